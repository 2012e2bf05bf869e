package nodeagent

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
)

// Defaults of Config.
const (
	DefaultMaxPods = 110
	// DefaultLogPort is the node server's port, the kubelet's.
	DefaultLogPort = 10250
	// DefaultVersion is reported as the node's kubelet version when
	// Config.Version is empty.
	DefaultVersion = "v0.0.0-shoal"
	// DefaultLeaseRenewInterval is how often the node's Lease is renewed:
	// a quarter of the control plane's default grace period (kubelet:
	// 10 s of 40 s), so that one slow renewal does not make the node
	// NotReady.
	DefaultLeaseRenewInterval = time.Second
)

// Config is what New needs. REST and DataDir are required; the rest has
// defaults.
type Config struct {
	// REST reaches the API server: its URL, its CA and the node's bearer
	// token (user system:node:<NodeName> in group system:nodes). The agent
	// talks to the API server only, never to etcd. With this token it
	// also gets its node server's certificate signed (nodeagent/server).
	REST *rest.Config
	// NodeName names the Node and its Lease; default the host name,
	// lower-cased.
	NodeName string
	// NodeIP is the node's InternalIP: other nodes route this node's pods
	// through it, hostNetwork pods report it as their IP and the node server
	// listens on it. Default: the IPv4 address of the interface that holds
	// the default route (in NetNS, when set).
	NodeIP netip.Addr
	// NetNS is the node's network namespace, a path such as
	// /run/netns/node-1; "" is the agent's own. Everything of the node's
	// network lives there: the pod bridge, the pods' host veths, the routes
	// to other nodes' pods, the node server's listener, the hostNetwork pods,
	// and the connections of httpGet, tcpSocket and grpc probes. The agent
	// itself stays where it runs: its API client dials from there. This is
	// how one machine plays several nodes, each agent with a namespace
	// wired to a common bridge as if it were a host (see
	// nodeagent/nodeagenttest).
	NetNS string
	// PodCIDR is the pod CIDR to ask for when the Node is created (kubelet's
	// --pod-cidr); unset, the registry allocates one. A Node that exists
	// keeps the one it has.
	PodCIDR netip.Prefix
	// DataDir keeps what must survive a restart: containerd/ (the
	// runtime's config, images and state, and containerd.log), pods/<uid>/
	// (volumes, hosts files), logs/ (container logs, the kubelet's layout),
	// images/ (archives imported at start), cni/ and network/. One agent
	// per DataDir.
	DataDir string
	// RuntimeEndpoint is an existing CRI runtime to use ("unix:///run/
	// containerd/containerd.sock"), the kubelet's
	// --container-runtime-endpoint; "" starts a containerd of the agent's
	// own (in NetNS, config under DataDir/containerd), stopped when Run
	// returns. With an endpoint the agent still installs Shoal's CNI plugin
	// and conflist, into that runtime's CNI directories (containerd's
	// defaults /opt/cni/bin and /etc/cni/net.d unless CNIBinDir and
	// CNIConfDir say otherwise).
	RuntimeEndpoint string
	// Registries configures the own containerd's registry mirrors and TLS
	// (k3s's registries.yaml, containerd.ParseRegistries).
	Registries containerd.Registries
	// ImagesDir holds image archives (OCI layout or docker save tars)
	// imported at start, for air-gapped nodes; default DataDir/images.
	ImagesDir string
	// CNIBinDir and CNIConfDir are the runtime's CNI plugin and
	// configuration directories, where the agent links Shoal's plugin (and
	// loopback from /usr/lib/cni) and writes its conflist; defaults
	// DataDir/cni/bin and DataDir/cni/net.d for the own containerd.
	CNIBinDir  string
	CNIConfDir string
	// ClusterCIDR holds every node's pod CIDR and ServiceCIDR the service
	// VIPs: pod traffic to them is not masqueraded. Defaults 10.244.0.0/16
	// (when it holds the node's pod CIDR) and 10.96.0.0/16.
	ClusterCIDR netip.Prefix
	ServiceCIDR netip.Prefix
	// Bridge is the pod bridge; default shoal0.
	Bridge string
	// ClusterDNS and ClusterDomain go into pods' resolv.conf; defaults
	// 10.96.0.10 and cluster.local. HostResolvConf is the node's, for
	// dnsPolicy Default; default /etc/resolv.conf.
	ClusterDNS     netip.Addr
	ClusterDomain  string
	HostResolvConf string
	// LogAddr is where the node server (HTTPS: exec, attach,
	// port-forward and container logs for the API server; /healthz and
	// /metrics for anyone) listens; default NodeIP:10250. Port 0 picks a
	// free one; the Node's daemonEndpoints.kubeletEndpoint.port says which.
	LogAddr string
	// MaxPods is the node's pod capacity; default 110.
	MaxPods int
	// Labels are added to the Node's labels when the agent registers it.
	Labels map[string]string
	// KeepPodsOnStop leaves the pods running (and their network) when Run
	// returns, for the next agent to adopt; otherwise Run stops them all.
	KeepPodsOnStop bool
	// Version is reported as the node's kubelet version.
	Version string
	// LeaseRenewInterval is how often the agent renews the node's Lease,
	// the heartbeat the control plane's node monitor times (its grace
	// period should span several renewals); default
	// DefaultLeaseRenewInterval. The load report the Lease carries is
	// measured every api.LoadInterval, or every renewal if that is longer.
	LeaseRenewInterval time.Duration
	// Metrics receives the agent's metrics, which /metrics serves; default
	// a registry of its own. One agent per registry.
	Metrics *prometheus.Registry
	Logger  *slog.Logger

	// Hooks for tests and harnesses that run several agents on one
	// machine: each needs its own NetnsDir (default /run/netns),
	// CgroupRoot (default "shoal": every pod's cgroups are under
	// /<CgroupRoot>/pod<uid> in each hierarchy) and Bridge. NoPeerRoutes leaves the
	// node's routes to other nodes' pods alone: the network owns every
	// route of its protocol in its namespace, so agents sharing one
	// namespace must not all manage them; agents each in its own NetNS
	// leave it false, as real nodes do.
	NetnsDir     string
	CgroupRoot   string
	NoPeerRoutes bool
}

func (cfg *Config) setDefaults() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if cfg.REST == nil || cfg.REST.Host == "" {
		return bad("the API server's address (REST.Host) is required")
	}
	if cfg.DataDir == "" {
		return bad("a data dir is required")
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return bad("data dir %q: %v", cfg.DataDir, err)
	}
	cfg.DataDir = abs
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return bad("no node name given and no host name: %v", err)
		}
		cfg.NodeName = strings.ToLower(h)
	}
	if errs := validation.IsDNS1123Subdomain(cfg.NodeName); len(errs) > 0 {
		return bad("node name %q: %s", cfg.NodeName, strings.Join(errs, "; "))
	}
	if cfg.NetNS != "" {
		if err := checkNetNS(cfg.NetNS); err != nil {
			return bad("node netns %q: %v", cfg.NetNS, err)
		}
	}
	if !cfg.NodeIP.IsValid() {
		var ip netip.Addr
		err := netns.DoPath(cfg.NetNS, func() (err error) {
			ip, err = DefaultNodeIP()
			return err
		})
		if err != nil {
			return bad("no node IP given: %v", err)
		}
		cfg.NodeIP = ip
	}
	if !cfg.NodeIP.Is4() {
		return bad("node IP %s: must be an IPv4 address (Shoal's pod network is IPv4)", cfg.NodeIP)
	}
	if cfg.PodCIDR.IsValid() && (!cfg.PodCIDR.Addr().Is4() || cfg.PodCIDR.Masked() != cfg.PodCIDR) {
		return bad("pod CIDR %s: must be an IPv4 network address such as 10.244.1.0/24", cfg.PodCIDR)
	}
	if cfg.LogAddr == "" {
		cfg.LogAddr = netip.AddrPortFrom(cfg.NodeIP, DefaultLogPort).String()
	}
	if cfg.Bridge == "" {
		cfg.Bridge = "shoal0"
	}
	if !cfg.ClusterDNS.IsValid() {
		cfg.ClusterDNS = netip.MustParseAddr("10.96.0.10")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.HostResolvConf == "" {
		cfg.HostResolvConf = "/etc/resolv.conf"
	}
	if cfg.ImagesDir == "" {
		cfg.ImagesDir = filepath.Join(cfg.DataDir, "images")
	}
	switch {
	case cfg.RuntimeEndpoint != "":
		cfg.CNIBinDir = cmp.Or(cfg.CNIBinDir, "/opt/cni/bin")
		cfg.CNIConfDir = cmp.Or(cfg.CNIConfDir, "/etc/cni/net.d")
	default:
		cfg.CNIBinDir = cmp.Or(cfg.CNIBinDir, filepath.Join(cfg.DataDir, "cni", "bin"))
		cfg.CNIConfDir = cmp.Or(cfg.CNIConfDir, filepath.Join(cfg.DataDir, "cni", "net.d"))
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "shoal"
	}
	if err := checkCgroupRoot(cfg.CgroupRoot); err != nil {
		return bad("cgroup root %q: %v", cfg.CgroupRoot, err)
	}
	if err := cfg.Registries.Validate(); err != nil {
		return bad("%v", err)
	}
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = DefaultMaxPods
	}
	if cfg.LeaseRenewInterval < 0 {
		return bad("lease renew interval %s: must not be negative", cfg.LeaseRenewInterval)
	}
	if cfg.LeaseRenewInterval == 0 {
		cfg.LeaseRenewInterval = DefaultLeaseRenewInterval
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// checkCgroupRoot refuses a cgroup root that is not a plain relative path.
func checkCgroupRoot(root string) error {
	if filepath.IsAbs(root) || filepath.Clean(root) != root || root == "." || strings.HasPrefix(root, "..") {
		return errors.New("want a relative path such as shoal or shoal/node-1")
	}
	return nil
}

// checkNetNS checks that path names a network namespace: an absolute path
// to a namespace file (a bind mount of one, or /proc/<pid>/ns/net).
func checkNetNS(path string) error {
	if !filepath.IsAbs(path) {
		return errors.New("want an absolute path")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	if st.Type != unix.NSFS_MAGIC {
		return errors.New("not a namespace file")
	}
	return nil
}
