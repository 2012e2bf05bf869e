// Package networktest holds helpers for tests that need network namespaces:
// throwaway namespaces, and listening and dialing inside a namespace
// (internal/netns runs any other code there). The network package's tests
// use it, and so can the runtime's and the multi-node e2e tests.
package networktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/netns"
)

// Name returns prefix followed by random hex digits, 15 bytes in all (the
// kernel's limit on interface names): a name no one else uses.
func Name(prefix string) string {
	if len(prefix) >= 15 {
		panic("networktest.Name: prefix too long")
	}
	b := make([]byte, 8)
	rand.Read(b)
	return (prefix + hex.EncodeToString(b))[:15]
}

// NewNamespace creates an anonymous network namespace, as a stand-in for a
// node, that lives until the test ends (or longer while something pins it).
func NewNamespace(t testing.TB) netns.Handle {
	t.Helper()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// Path names an open namespace handle as a file path, for the helpers
// below and for anything else that takes a namespace path.
func Path(ns netns.Handle) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))
}

// ListenIn listens on addr ("ip:port", port 0 for any) inside the pinned
// namespace at path. The listener is closed when the test ends.
func ListenIn(t testing.TB, path, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := netns.DoPath(path, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, path, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// DialIn connects to addr from inside the pinned namespace at path.
func DialIn(ctx context.Context, path, addr string) (net.Conn, error) {
	var c net.Conn
	err := netns.DoPath(path, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// Echo accepts connections on ln and echoes each back until the test ends.
func Echo(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				for {
					k, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:k]); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// Pinned creates a network namespace pinned on a file in a temporary
// directory, with lo up, and returns its path; it is deleted when the test
// ends. Child processes (a CNI plugin, say) can open it by that path.
func Pinned(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netns")
	if err := netns.Create(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(path); err != nil {
			t.Errorf("delete netns: %v", err)
		}
	})
	err := netns.DoPath(path, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		t.Fatalf("bring up lo in %s: %v", path, err)
	}
	return path
}

// Connect links the namespaces at paths a and b with a veth pair, gives
// the ends the addresses aAddr and bAddr (with their prefix lengths) and
// brings them up: two machines on one wire. The pair goes with either
// namespace.
func Connect(t testing.TB, a string, aAddr netip.Prefix, b string, bAddr netip.Prefix) {
	t.Helper()
	aName, bName := Name("wirea"), Name("wireb")
	bNS, err := netns.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer bNS.Close()
	err = netns.DoPath(a, func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = aName
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: bName, PeerNamespace: netlink.NsFd(bNS)})
	})
	if err != nil {
		t.Fatalf("create veth %s: %v", aName, err)
	}
	for _, end := range []struct {
		ns, name string
		addr     netip.Prefix
	}{{a, aName, aAddr}, {b, bName, bAddr}} {
		err := netns.DoPath(end.ns, func() error {
			l, err := netlink.LinkByName(end.name)
			if err != nil {
				return err
			}
			ipn := &net.IPNet{IP: end.addr.Addr().AsSlice(), Mask: net.CIDRMask(end.addr.Bits(), end.addr.Addr().BitLen())}
			if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
				return err
			}
			return netlink.LinkSetUp(l)
		})
		if err != nil {
			t.Fatalf("set up %s (%v) in %s: %v", end.name, end.addr, end.ns, err)
		}
	}
}
