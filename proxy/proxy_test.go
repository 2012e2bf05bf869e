package proxy

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/xdsclient"
)

// noVIPs records VIPs without touching the node: 127.0.0.0/8 is on lo.
type noVIPs struct {
	mu  sync.Mutex
	set map[netip.Addr]bool
}

func (v *noVIPs) Add(ip netip.Addr) error { v.mu.Lock(); v.set[ip] = true; v.mu.Unlock(); return nil }
func (v *noVIPs) Remove(ip netip.Addr) error {
	v.mu.Lock()
	delete(v.set, ip)
	v.mu.Unlock()
	return nil
}

// backend answers every connection with its name.
func backend(t *testing.T, name string) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(name))
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func get(t *testing.T, addr netip.AddrPort) (string, error) {
	c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// freeVIP is a free port on a loopback address standing in for a VIP.
func freeVIP(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.61:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// TestApply: a listener serves its cluster's endpoints, an endpoint change
// takes effect, a removed listener stops serving and releases its VIP, and
// a reserved address is left alone.
func TestApply(t *testing.T) {
	vips := &noVIPs{set: map[netip.Addr]bool{}}
	reserved := netip.MustParseAddr("127.0.0.62")
	p := New(Config{VIPs: vips, Reserved: []netip.Addr{reserved}})
	a, b := backend(t, "a"), backend(t, "b")
	vip := freeVIP(t)
	snap := func(eps ...netip.AddrPort) *xdsclient.Snapshot {
		s := &xdsclient.Snapshot{
			Listeners: map[string]xdsclient.Listener{
				"web": {Name: "web", Addr: vip, Cluster: "web"},
				"dns": {Name: "dns", Addr: netip.AddrPortFrom(reserved, 53), Cluster: "web"},
			},
			Clusters:  map[string]xdsclient.Cluster{"web": {Name: "web", EDSName: "web"}},
			Endpoints: map[string][]xdsclient.Endpoint{},
		}
		for _, e := range eps {
			s.Endpoints["web"] = append(s.Endpoints["web"], xdsclient.Endpoint{Addr: e, Weight: 1, Health: xdsclient.Healthy})
		}
		return s
	}
	if err := p.Apply(snap(a, b)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 40 {
		got, err := get(t, vip)
		if err != nil {
			t.Fatal(err)
		}
		seen[got]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("connections reached %v; want both endpoints", seen)
	}
	if !vips.set[vip.Addr()] || vips.set[reserved] {
		t.Errorf("VIPs %v: want %s and not the reserved %s", vips.set, vip.Addr(), reserved)
	}
	if err := p.Apply(snap(b)); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if got, err := get(t, vip); err != nil || got != "b" {
			t.Fatalf("after a's removal: %q, %v", got, err)
		}
	}
	empty := snap(b)
	empty.Listeners = nil
	if err := p.Apply(empty); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the removed listener to stop serving", func() bool {
		_, err := get(t, vip)
		return err != nil
	})
	if vips.set[vip.Addr()] {
		t.Error("the removed listener's VIP is still held")
	}
}
