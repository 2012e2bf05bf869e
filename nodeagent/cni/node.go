package cni

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent/network"
	"github.com/shoalmesh/shoal/nodeagent/network/ipam"
)

// Peer is another node, for host-gw routing: its pods are reached through
// its node IP, which must be on a network this node is directly attached to.
type Peer = network.Peer

// NodeNetwork is the node side of the pod network, which the plugin's
// calls rely on. Its methods are safe for concurrent use.
type NodeNetwork struct {
	cfg  NodeConfig
	log  *slog.Logger
	host netns.Handle    // the node's network namespace
	nl   *netlink.Handle // netlink in host
	lock *os.File        // flock on StateDir/node.lock

	mu     sync.Mutex // serializes route changes and Close
	closed bool
	links  []string // what installPlugins made in BinDir
}

// SetupNode sets up the node side of the pod network (see the package
// documentation) and installs the plugin for containerd. It is idempotent:
// an agent restarted while pods run calls it again and they keep their
// network. Call Close when done.
func SetupNode(ctx context.Context, cfg NodeConfig) (*NodeNetwork, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.StateDir, cfg.BinDir, cfg.ConfDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("set up node network: %w", err)
		}
	}
	n := &NodeNetwork{cfg: cfg, log: cfg.Logger.With("component", "cni"), host: netns.None()}
	ok := false
	defer func() {
		if !ok {
			n.release()
		}
	}()
	var err error
	if n.lock, err = lockState(cfg.StateDir); err != nil {
		return nil, err
	}
	// The plugins first: a machine without them is refused before
	// anything in the kernel changes. The conflist last: containerd calls
	// the plugin once it appears.
	if n.links, err = installPlugins(cfg.BinDir); err != nil {
		return nil, fmt.Errorf("set up node network: %w", err)
	}
	if err := n.openHost(); err != nil {
		return nil, err
	}
	// The allocations must be readable before any plugin call needs them.
	if err := ipam.Update(filepath.Join(cfg.StateDir, ipamFile), cfg.PodCIDR, func(*ipam.Allocator) error { return nil }); err != nil {
		return nil, fmt.Errorf("set up node network: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := network.EnsureBridge(n.nl, cfg.Bridge, cfg.PodCIDR, cfg.MTU); err != nil {
		return nil, fmt.Errorf("set up node network: %w", err)
	}
	m := network.Masquerade{PodCIDR: cfg.PodCIDR, ClusterCIDR: cfg.ClusterCIDR, ServiceCIDR: cfg.ServiceCIDR}
	if err := network.SetMasquerade(n.host, n.Table(), m); err != nil {
		return nil, fmt.Errorf("set up node network: %w", err)
	}
	if err := writeConfList(cfg, n.log); err != nil {
		return nil, fmt.Errorf("set up node network: %w", err)
	}
	n.log.Info("pod network ready", "bridge", cfg.Bridge, "pod_cidr", cfg.PodCIDR, "gateway", n.Gateway(),
		"cluster_cidr", cfg.ClusterCIDR, "service_cidr", cfg.ServiceCIDR, "conflist", n.ConfListPath())
	ok = true
	return n, nil
}

// openHost opens the node's namespace (Config.NetNS, else the calling
// thread's) and a netlink handle in it, and enables forwarding there.
func (n *NodeNetwork) openHost() error {
	var err error
	if n.cfg.NetNS != "" {
		ok, err := netns.IsNamespace(n.cfg.NetNS)
		if err == nil && !ok {
			err = fmt.Errorf("%s is not a network namespace", n.cfg.NetNS)
		}
		if err != nil {
			return fmt.Errorf("%w: NetNS: %v", ErrInvalidConfig, err)
		}
		if n.host, err = netns.Open(n.cfg.NetNS); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		err = netns.Do(n.host, network.EnableForwarding)
	} else {
		err = network.EnableForwarding()
	}
	if err != nil {
		return err
	}
	if n.nl, err = netlink.NewHandleAt(n.host); err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	return nil
}

func lockState(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another node network", ErrStateLocked, dir)
		}
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return f, nil
}

// release closes what SetupNode opened; the kernel objects stay.
func (n *NodeNetwork) release() {
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	if n.host.IsOpen() {
		n.host.Close()
	}
	if n.lock != nil {
		n.lock.Close() // drops the flock
		n.lock = nil
	}
}

// Gateway is the bridge's address, the pods' default gateway.
func (n *NodeNetwork) Gateway() netip.Addr { return network.Gateway(n.cfg.PodCIDR) }

// Table is the node's nftables table (family ip).
func (n *NodeNetwork) Table() string { return network.NATTable(n.cfg.Bridge) }

// ConfListPath is the conflist SetupNode wrote.
func (n *NodeNetwork) ConfListPath() string { return filepath.Join(n.cfg.ConfDir, ConfListName) }

// SetPeerRoutes makes the node's routes to other nodes' pod CIDRs exactly
// peers: a route per peer via its node IP, marked with
// network.RouteProtocol, and no other route of that protocol in the main
// table (also none a previous agent left). The whole list is checked before
// any route changes; a route the kernel refuses does not stop the others.
func (n *NodeNetwork) SetPeerRoutes(ctx context.Context, peers []Peer) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if err := network.CheckPeers(n.cfg.PodCIDR, peers); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return network.ReplacePeerRoutes(n.nl, peers)
}

// Close releases the NodeNetwork. With removeBridge it first removes what
// SetupNode made: the peer routes, the nftables table, the bridge (and so
// any veth still on it), the conflist and the links in BinDir; the state
// directory keeps the allocations. Without, all of it stays for the pods
// that keep running and the next SetupNode. Close is idempotent.
func (n *NodeNetwork) Close(ctx context.Context, removeBridge bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	var err error
	if removeBridge {
		err = errors.Join(
			network.ReplacePeerRoutes(n.nl, nil),
			network.DeleteNAT(n.host, n.Table()),
			network.DeleteBridge(n.nl, n.cfg.Bridge),
			removeFile(n.ConfListPath()),
			uninstallPlugins(n.links),
		)
		if err == nil {
			n.log.Info("pod network removed", "bridge", n.cfg.Bridge)
		}
	}
	n.closed = true
	n.release()
	return err
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
