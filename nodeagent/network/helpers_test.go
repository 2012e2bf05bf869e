package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/network/networktest"
)

// Test pod CIDRs come from 10.250.0.0/16, a /24 each, starting at a random
// third octet so that two test processes on one machine are unlikely to pick
// the same one; interface names are random.
var (
	cidrBase = func() uint32 { b := make([]byte, 1); rand.Read(b); return uint32(b[0]) }()
	cidrSeq  atomic.Uint32
)

func testCIDR(bits int) netip.Prefix {
	third := byte(cidrBase + cidrSeq.Add(1))
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 250, third, 0}), bits)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testConfig returns a Config for a throwaway network in the namespace node
// (netns.None() for the test process's own) and registers a cleanup that
// removes every kernel object such a network can make, even if the test
// fails half-way.
func testConfig(t *testing.T, node netns.Handle, bits int) Config {
	t.Helper()
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	resolv := filepath.Join(dir, "host-resolv.conf")
	if err := os.WriteFile(resolv, []byte("# host\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Bridge:         networktest.Name("shoalt"),
		PodCIDR:        testCIDR(bits),
		StateDir:       filepath.Join(dir, "state"),
		NetnsDir:       filepath.Join(dir, "netns"),
		HostResolvConf: resolv,
		NodeIP:         netip.MustParseAddr("10.249.0.1"),
		Logger:         testLogger(t),
	}
	t.Cleanup(func() { cleanupKernel(t, node, cfg) })
	return cfg
}

func cleanupKernel(t *testing.T, node netns.Handle, cfg Config) {
	h := nlHandle(t, node)
	defer h.Close()
	links, _ := h.LinkList()
	for _, l := range links {
		a := l.Attrs()
		if a.Name == cfg.Bridge || strings.HasPrefix(a.Alias, aliasPrefix+cfg.Bridge+":") {
			h.LinkDel(l)
		}
	}
	entries, _ := os.ReadDir(cfg.NetnsDir)
	for _, e := range entries {
		p := filepath.Join(cfg.NetnsDir, e.Name())
		unix.Unmount(p, unix.MNT_DETACH)
		os.Remove(p)
	}
}

func nlHandle(t *testing.T, node netns.Handle) *netlink.Handle {
	t.Helper()
	var (
		h   *netlink.Handle
		err error
	)
	if node.IsOpen() {
		h, err = netlink.NewHandleAt(node)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newNetwork calls New inside node (or in the test's own namespace).
func newNetwork(t *testing.T, node netns.Handle, cfg Config) *Network {
	t.Helper()
	n, err := openNetwork(t, node, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { n.Close(context.Background(), true) })
	return n
}

func openNetwork(t *testing.T, node netns.Handle, cfg Config) (n *Network, err error) {
	if !node.IsOpen() {
		return New(t.Context(), cfg)
	}
	derr := netns.Do(node, func() error {
		n, err = New(t.Context(), cfg)
		return nil
	})
	if derr != nil {
		t.Fatal(derr)
	}
	return n, err
}

// testPod returns a pod with a unique UID.
func testPod(name string) Pod {
	b := make([]byte, 8)
	rand.Read(b)
	return Pod{UID: name + "-" + hex.EncodeToString(b), Namespace: "default", Name: name}
}

func setup(t *testing.T, n *Network, pod Pod) *Sandbox {
	t.Helper()
	s, err := n.Setup(t.Context(), pod)
	if err != nil {
		t.Fatalf("Setup(%s): %v", pod.Name, err)
	}
	return s
}

// roundTrip dials addr (from inside the namespace at from, or from the
// test's namespace if from is "") and checks that an echo server answers.
// It retries until a deadline: a fresh bridge port may take a moment to
// forward.
func roundTrip(t *testing.T, from, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var lastErr error
	for ctx.Err() == nil {
		lastErr = tryRoundTrip(ctx, from, addr)
		if lastErr == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("round trip from %q to %s: %v", from, addr, lastErr)
}

func tryRoundTrip(ctx context.Context, from, addr string) error {
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var (
		c   net.Conn
		err error
	)
	if from == "" {
		var d net.Dialer
		c, err = d.DialContext(dctx, "tcp", addr)
	} else {
		c, err = networktest.DialIn(dctx, from, addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping" {
		return errors.New("bad echo " + string(buf))
	}
	return nil
}

// echoIn starts an echo server on ip:0 inside the namespace at path ("" for
// the test's) and returns its address.
func echoIn(t *testing.T, path string, ip netip.Addr) string {
	t.Helper()
	var ln net.Listener
	if path == "" {
		var err error
		if ln, err = net.Listen("tcp", netip.AddrPortFrom(ip, 0).String()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
	} else {
		ln = networktest.ListenIn(t, path, netip.AddrPortFrom(ip, 0).String())
	}
	networktest.Echo(ln)
	return ln.Addr().String()
}

// assertGone checks that nothing of the sandbox of uid is left.
func assertGone(t *testing.T, n *Network, node netns.Handle, uid string) {
	t.Helper()
	h := nlHandle(t, node)
	defer h.Close()
	if _, err := h.LinkByName(HostVethName(uid)); !isNotFound(err) {
		t.Errorf("veth %s still exists (%v)", HostVethName(uid), err)
	}
	if _, err := os.Lstat(filepath.Join(n.cfg.NetnsDir, NetNSName(uid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns %s still exists (%v)", NetNSName(uid), err)
	}
	if _, err := os.Lstat(n.sandboxDir(SandboxID(uid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sandbox dir of %s still exists (%v)", uid, err)
	}
	if ip, ok := n.ipam.Lookup(uid); ok {
		t.Errorf("IP %v of %s not released", ip, uid)
	}
}
