package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent/network/ipam"
)

// Network is the pod network of one node. Its methods are safe for
// concurrent use; calls for different pods run in parallel.
type Network struct {
	cfg  Config
	log  *slog.Logger
	host netns.Handle    // the node's network namespace
	nl   *netlink.Handle // netlink sockets in host
	ipam *ipam.Allocator
	lock *os.File // flock on StateDir/lock

	// life is held shared by every operation and exclusively by Close and
	// Destroy, which wait for operations in flight.
	life   sync.RWMutex
	closed bool

	bridgeMu sync.Mutex // serializes re-creating a bridge deleted under us
	routesMu sync.Mutex // serializes SetPeerRoutes

	mu      sync.Mutex
	records map[string]*record // complete sandboxes by ID
	idLocks map[string]*idLock
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

// New sets up the node side of the pod network and adopts the sandboxes a
// previous agent left (see doc.go). The Network works in Config.NetNS, or
// without it in the network namespace of the calling thread: the node's,
// normally.
//
// New enables IPv4 forwarding in that namespace and leaves it enabled.
func New(ctx context.Context, cfg Config) (*Network, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	for _, d := range []string{filepath.Join(cfg.StateDir, sandboxSubdir), cfg.NetnsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	n := &Network{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "network"),
		host:    netns.None(),
		records: map[string]*record{},
		idLocks: map[string]*idLock{},
	}
	ok := false
	defer func() {
		if !ok {
			n.release()
		}
	}()
	var err error
	if n.lock, err = lockDir(cfg.StateDir); err != nil {
		return nil, err
	}
	if err := n.captureHost(); err != nil {
		return nil, err
	}
	if n.nl, err = netlink.NewHandleAt(n.host); err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	if n.ipam, err = ipam.Open(filepath.Join(cfg.StateDir, "ipam.json"), cfg.PodCIDR); err != nil {
		return nil, err
	}
	if _, err := n.ensureBridge(); err != nil {
		return nil, err
	}
	if err := n.adopt(ctx); err != nil {
		return nil, fmt.Errorf("adopt sandboxes: %w", err)
	}
	ok = true
	return n, nil
}

// captureHost records the node's namespace (Config.NetNS, else the calling
// thread's) and enables forwarding in it.
func (n *Network) captureHost() error {
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
		return netns.Do(n.host, EnableForwarding)
	}
	h, err := netns.Current()
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.host = h
	return EnableForwarding()
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another network", ErrStateLocked, dir)
		}
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return f, nil
}

// release closes what New opened. The kernel objects stay.
func (n *Network) release() {
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

// enter starts an operation; the caller must call n.life.RUnlock.
func (n *Network) enter() error {
	n.life.RLock()
	if n.closed {
		n.life.RUnlock()
		return ErrClosed
	}
	return nil
}

// lockID serializes the operations on one sandbox ID (not one UID: two UIDs
// colliding on an ID must not race on the same names).
func (n *Network) lockID(id string) (unlock func()) {
	n.mu.Lock()
	l := n.idLocks[id]
	if l == nil {
		l = &idLock{}
		n.idLocks[id] = l
	}
	l.refs++
	n.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		n.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(n.idLocks, id)
		}
		n.mu.Unlock()
	}
}

func (n *Network) lookup(id string) *record {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.records[id]
}

func (n *Network) store(id string, r *record) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.records[id] = r
}

func (n *Network) forget(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.records, id)
}

// Gateway is the bridge's address, the pods' default gateway.
func (n *Network) Gateway() netip.Addr { return Gateway(n.cfg.PodCIDR) }

// Sandboxes lists the complete sandboxes, sorted by pod UID. After New it is
// what the previous agent left running, already reconciled with the kernel.
func (n *Network) Sandboxes() []Sandbox {
	n.mu.Lock()
	out := make([]Sandbox, 0, len(n.records))
	for id, r := range n.records {
		out = append(out, *r.sandbox(n, id))
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out
}

// Close releases the Network. Unless keepPods is set it first tears down
// every sandbox, as an agent that stops its pods does. The bridge and the
// peer routes stay, for the next agent to adopt. Close is idempotent.
func (n *Network) Close(ctx context.Context, keepPods bool) error {
	n.life.Lock()
	defer n.life.Unlock()
	if n.closed {
		return nil
	}
	var err error
	if !keepPods {
		err = n.teardownAll(ctx)
	}
	n.closed = true
	n.release()
	return err
}

// Destroy tears down every sandbox, deletes Shoal's peer routes and the
// bridge, and closes the Network: nothing of it is left in the kernel. The
// state directory keeps an empty IPAM file.
func (n *Network) Destroy(ctx context.Context) error {
	n.life.Lock()
	defer n.life.Unlock()
	if n.closed {
		return ErrClosed
	}
	err := errors.Join(
		n.teardownAll(ctx),
		n.replaceRoutes(nil),
		n.deleteBridge(),
	)
	n.closed = true
	n.release()
	return err
}

func (n *Network) teardownAll(ctx context.Context) error {
	n.mu.Lock()
	recs := make(map[string]*record, len(n.records))
	for id, r := range n.records {
		recs[id] = r
	}
	n.mu.Unlock()
	var errs []error
	for id, r := range recs {
		if err := n.teardown(ctx, id, r.Pod.UID); err != nil {
			errs = append(errs, fmt.Errorf("tear down pod %s/%s: %w", r.Pod.Namespace, r.Pod.Name, err))
		}
	}
	return errors.Join(errs...)
}
