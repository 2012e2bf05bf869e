package nodeagent

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/network/networktest"
)

// Without a NodeIP, an agent with a NetNS takes the address of the
// interface holding the default route in that namespace, not in its own.
func TestDefaultNodeIPComesFromNetNS(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ns := networktest.NewNamespace(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// A veth pair with both ends up (not every kernel here has dummy).
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink"}, PeerName: "uplink-peer"}); err != nil {
		t.Fatal(err)
	}
	up, _ := h.LinkByName("uplink")
	peer, _ := h.LinkByName("uplink-peer")
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 77, 0, 5), Mask: net.CIDRMask(24, 32)}}
	if err := h.AddrAdd(up, addr); err != nil {
		t.Fatal(err)
	}
	for _, l := range []netlink.Link{up, peer} {
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: up.Attrs().Index, Gw: net.IPv4(10, 77, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{REST: &rest.Config{Host: "https://127.0.0.1:6443"}, NodeName: "n1", DataDir: t.TempDir(), NetNS: networktest.Path(ns)}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("10.77.0.5"); cfg.NodeIP != want || cfg.LogAddr != "10.77.0.5:10250" {
		t.Errorf("NodeIP %v, LogAddr %s; want %v and its port 10250", cfg.NodeIP, cfg.LogAddr, want)
	}
}
