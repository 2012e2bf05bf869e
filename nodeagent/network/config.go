package network

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/shoalmesh/shoal/nodeagent/network/ipam"
)

// Defaults, as in DESIGN.md.
const (
	DefaultBridge         = "shoal0"
	DefaultClusterDomain  = "cluster.local"
	DefaultNetnsDir       = "/run/netns"
	DefaultHostResolvConf = "/etc/resolv.conf"
)

// DefaultClusterDNS is the cluster DNS service IP.
var DefaultClusterDNS = netip.MustParseAddr("10.96.0.10")

// Config is what New needs. Only PodCIDR and StateDir are required.
type Config struct {
	// Bridge is the node's pod bridge; default shoal0. At most 15 bytes.
	Bridge string
	// PodCIDR is the node's pod CIDR (a /24 of 10.244.0.0/16 in a cluster).
	// The bridge gets its first address; pods get the rest but the broadcast.
	PodCIDR netip.Prefix
	// NodeIP is the node's own address, reported as the IP of hostNetwork
	// pods and written to nothing else. Optional.
	NodeIP netip.Addr
	// NetNS is the node's network namespace, a path to a namespace file
	// such as /run/netns/node-1 or /proc/<pid>/ns/net, where the bridge,
	// the host veths and the peer routes live, forwarding is enabled, and
	// hostNetwork pods run (Sandbox.NetNSPath). "" is the namespace of the
	// thread that calls New: the node's own, normally. A machine playing
	// several nodes gives each its namespace here.
	NetNS string
	// StateDir holds the IPAM allocations and a directory per sandbox (its
	// record, resolv.conf and hosts). It must survive agent restarts.
	StateDir string
	// NetnsDir is where pod network namespaces are pinned; default
	// /run/netns, where `ip netns` finds them. A Network owns every
	// shoal-<id> entry there: agents sharing a mount namespace need
	// different directories.
	NetnsDir string
	// ClusterDNS is the nameserver of ClusterFirst pods; default 10.96.0.10.
	ClusterDNS netip.Addr
	// ClusterDomain is the cluster's DNS domain; default cluster.local.
	ClusterDomain string
	// HostResolvConf is the node's resolv.conf, used for pods with DNS policy
	// Default (and ClusterFirst hostNetwork pods); default /etc/resolv.conf.
	// On a systemd-resolved node point it at /run/systemd/resolve/resolv.conf,
	// as one does kubelet's --resolv-conf.
	HostResolvConf string
	// MTU of the bridge and veths; 0 leaves the kernel default (1500).
	MTU int
	// Logger; default slog.Default(). A "component" attribute is added.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.NetnsDir == "" {
		c.NetnsDir = DefaultNetnsDir
	}
	if !c.ClusterDNS.IsValid() {
		c.ClusterDNS = DefaultClusterDNS
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = DefaultClusterDomain
	}
	c.ClusterDomain = strings.TrimSuffix(c.ClusterDomain, ".")
	if c.HostResolvConf == "" {
		c.HostResolvConf = DefaultHostResolvConf
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if err := ipam.CheckPrefix(c.PodCIDR); err != nil {
		return fmt.Errorf("%w: PodCIDR: %w", ErrInvalidConfig, err)
	}
	if len(c.Bridge) > 15 || strings.ContainsAny(c.Bridge, "/: \t\n") {
		return bad("Bridge %q: want an interface name of at most 15 bytes without '/', ':' or spaces", c.Bridge)
	}
	if c.StateDir == "" {
		return bad("StateDir is required")
	}
	if !strings.HasPrefix(c.NetnsDir, "/") {
		return bad("NetnsDir %q: want an absolute path", c.NetnsDir)
	}
	if c.NetNS != "" && !strings.HasPrefix(c.NetNS, "/") {
		return bad("NetNS %q: want an absolute path", c.NetNS)
	}
	if !c.ClusterDNS.Is4() {
		return bad("ClusterDNS %v: want an IPv4 address", c.ClusterDNS)
	}
	if c.NodeIP.IsValid() && !c.NodeIP.Is4() {
		return bad("NodeIP %v: want an IPv4 address", c.NodeIP)
	}
	if !isDNSSubdomain(c.ClusterDomain) {
		return bad("ClusterDomain %q: not a DNS name", c.ClusterDomain)
	}
	if c.MTU < 0 || (c.MTU > 0 && c.MTU < 68) || c.MTU > 65535 {
		return bad("MTU %d: want 0 (kernel default) or 68..65535", c.MTU)
	}
	return nil
}

// isDNSLabel reports whether s is an RFC 1123 label, as Kubernetes requires
// of namespaces, hostnames and subdomains.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

func isDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !isDNSLabel(l) {
			return false
		}
	}
	return true
}
