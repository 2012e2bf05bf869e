package cni

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/shoalmesh/shoal/nodeagent/network"
	"github.com/shoalmesh/shoal/nodeagent/network/ipam"
)

// DefaultBridge is the node's pod bridge.
const DefaultBridge = network.DefaultBridge

// NodeConfig is what SetupNode needs. PodCIDR, StateDir, BinDir and ConfDir
// are required.
type NodeConfig struct {
	// NetNS is the node's network namespace, a path such as
	// /run/netns/node-1, where the bridge, the host veths, the peer routes
	// and the nftables table live. "" is the caller's (the host's,
	// normally). The plugin, which runs in containerd's namespace, is told
	// it through the conflist.
	NetNS string
	// Bridge is the pod bridge; default shoal0. At most 15 bytes.
	Bridge string
	// PodCIDR is the node's pod CIDR (spec.podCIDR, a /24 of the cluster
	// CIDR). The bridge gets its first address, pods the rest but the
	// broadcast address.
	PodCIDR netip.Prefix
	// NodeIP is the node's address. Masquerading uses the address of the
	// interface traffic leaves by, which is NodeIP when the node reaches
	// the outside through the interface that holds it. Optional.
	NodeIP netip.Addr
	// ClusterCIDR holds every node's pod CIDR: traffic from pods to it is
	// not masqueraded. Without it only this node's PodCIDR is exempt.
	ClusterCIDR netip.Prefix
	// ServiceCIDR holds the service VIPs: traffic to it is not
	// masqueraded either. Optional.
	ServiceCIDR netip.Prefix
	// StateDir holds the address allocations (ipam.json) and the node's
	// lock. It must survive restarts, and only one NodeNetwork uses it.
	StateDir string
	// BinDir and ConfDir are containerd's CNI directories (bin_dir,
	// conf_dir): SetupNode links the plugins into BinDir and writes the
	// conflist into ConfDir.
	BinDir, ConfDir string
	// MTU of the bridge and veths; 0 leaves the kernel default (1500).
	MTU int
	// Logger; default slog.Default(). A "component" attribute is added.
	Logger *slog.Logger
}

func (c NodeConfig) withDefaults() NodeConfig {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c NodeConfig) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if err := ipam.CheckPrefix(c.PodCIDR); err != nil {
		return fmt.Errorf("%w: PodCIDR: %w", ErrInvalidConfig, err)
	}
	if err := checkBridge(c.Bridge); err != nil {
		return bad("Bridge: %v", err)
	}
	if c.NodeIP.IsValid() && !c.NodeIP.Is4() {
		return bad("NodeIP %v: want an IPv4 address", c.NodeIP)
	}
	if c.ClusterCIDR.IsValid() {
		if !c.ClusterCIDR.Addr().Is4() || c.ClusterCIDR.Masked() != c.ClusterCIDR {
			return bad("ClusterCIDR %v: want an IPv4 prefix without host bits", c.ClusterCIDR)
		}
		if c.ClusterCIDR.Bits() > c.PodCIDR.Bits() || !c.ClusterCIDR.Contains(c.PodCIDR.Addr()) {
			return bad("ClusterCIDR %v does not contain PodCIDR %v", c.ClusterCIDR, c.PodCIDR)
		}
	}
	if c.ServiceCIDR.IsValid() {
		if !c.ServiceCIDR.Addr().Is4() || c.ServiceCIDR.Masked() != c.ServiceCIDR {
			return bad("ServiceCIDR %v: want an IPv4 prefix without host bits", c.ServiceCIDR)
		}
		if c.ServiceCIDR.Overlaps(c.PodCIDR) || (c.ClusterCIDR.IsValid() && c.ServiceCIDR.Overlaps(c.ClusterCIDR)) {
			return bad("ServiceCIDR %v overlaps the pod network", c.ServiceCIDR)
		}
	}
	for _, d := range []struct{ name, path string }{{"StateDir", c.StateDir}, {"BinDir", c.BinDir}, {"ConfDir", c.ConfDir}} {
		if !filepath.IsAbs(d.path) {
			return bad("%s %q: want an absolute path", d.name, d.path)
		}
	}
	if c.NetNS != "" && !filepath.IsAbs(c.NetNS) {
		return bad("NetNS %q: want an absolute path", c.NetNS)
	}
	return checkMTU(c.MTU)
}

func checkBridge(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("%q: want an interface name of 1 to 15 bytes without '/', ':' or spaces", name)
	}
	return nil
}

func checkMTU(mtu int) error {
	if mtu < 0 || (mtu > 0 && mtu < 68) || mtu > 65535 {
		return fmt.Errorf("%w: MTU %d: want 0 (kernel default) or 68..65535", ErrInvalidConfig, mtu)
	}
	return nil
}
