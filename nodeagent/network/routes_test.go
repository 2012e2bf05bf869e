package network

import (
	"errors"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/network/networktest"
)

// shoalRoutes lists the routes marked as Shoal's: destination → gateway.
func shoalRoutes(t *testing.T, h *netlink.Handle) map[string]string {
	t.Helper()
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rs {
		out[r.Dst.String()] = r.Gw.String()
	}
	return out
}

// uplink gives the namespace an interface on 10.249.0.0/24 with address
// 10.249.0.<host>, so node IPs there are on-link. It is a veth pair with both
// ends up (not every kernel here has the dummy driver).
func uplink(t *testing.T, h *netlink.Handle, host byte) {
	t.Helper()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink"}, PeerName: "uplink-peer"}); err != nil {
		t.Fatal(err)
	}
	d, _ := h.LinkByName("uplink")
	p, _ := h.LinkByName("uplink-peer")
	if err := h.LinkSetUp(p); err != nil {
		t.Fatal(err)
	}
	addr := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 249, 0, host}), 24))}
	if err := h.AddrAdd(d, addr); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(d); err != nil {
		t.Fatal(err)
	}
}

func peer(cidr, node string) Peer {
	return Peer{PodCIDR: netip.MustParsePrefix(cidr), NodeIP: netip.MustParseAddr(node)}
}

func TestPeerRoutesAreReplacedExactly(t *testing.T) {
	t.Parallel()
	testenv.Require(t, testenv.Root)
	node := networktest.NewNamespace(t)
	cfg := testConfig(t, node, 24)
	n := newNetwork(t, node, cfg)
	h := nlHandle(t, node)
	defer h.Close()
	uplink(t, h, 1)
	static := &netlink.Route{Dst: ipNet(netip.MustParsePrefix("10.251.9.0/24")), Gw: netip.MustParseAddr("10.249.0.2").AsSlice(), Protocol: unix.RTPROT_STATIC}
	if err := h.RouteAdd(static); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		peers []Peer
		want  map[string]string
	}{
		{[]Peer{peer("10.251.1.0/24", "10.249.0.2"), peer("10.251.2.0/24", "10.249.0.3")},
			map[string]string{"10.251.1.0/24": "10.249.0.2", "10.251.2.0/24": "10.249.0.3"}},
		// Peer 1 leaves, peer 2 moves, peer 3 joins.
		{[]Peer{peer("10.251.2.0/24", "10.249.0.4"), peer("10.251.3.0/24", "10.249.0.2")},
			map[string]string{"10.251.2.0/24": "10.249.0.4", "10.251.3.0/24": "10.249.0.2"}},
		{nil, map[string]string{}},
	}
	for i, s := range steps {
		if err := n.SetPeerRoutes(t.Context(), s.peers); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := shoalRoutes(t, h); !maps.Equal(got, s.want) {
			t.Fatalf("step %d: routes %v, want %v", i, got, s.want)
		}
	}
	if _, err := h.RouteGet(netip.MustParseAddr("10.251.9.1").AsSlice()); err != nil {
		t.Fatalf("an operator's static route went away: %v", err)
	}

	// Bad input changes nothing.
	good := []Peer{peer("10.251.1.0/24", "10.249.0.2")}
	if err := n.SetPeerRoutes(t.Context(), good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Peer{
		{peer(cfg.PodCIDR.String(), "10.249.0.2")},
		{peer("10.251.4.0/24", "10.249.0.2"), peer("10.251.4.0/25", "10.249.0.3")},
		{{PodCIDR: netip.MustParsePrefix("10.251.4.0/24")}},
		{peer("10.251.4.1/24", "10.249.0.2")},
	} {
		if err := n.SetPeerRoutes(t.Context(), bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("SetPeerRoutes(%v): %v, want ErrInvalidConfig", bad, err)
		}
	}
	if got := shoalRoutes(t, h); !maps.Equal(got, map[string]string{"10.251.1.0/24": "10.249.0.2"}) {
		t.Fatalf("routes changed by rejected input: %v", got)
	}

	// A node IP that is not on-link fails alone.
	err := n.SetPeerRoutes(t.Context(), []Peer{peer("10.251.5.0/24", "10.248.0.9"), peer("10.251.6.0/24", "10.249.0.2")})
	if err == nil || !strings.Contains(err.Error(), "10.251.5.0/24 via 10.248.0.9") {
		t.Fatalf("unreachable node IP: %v, want an error naming the route", err)
	}
	if got := shoalRoutes(t, h); !maps.Equal(got, map[string]string{"10.251.6.0/24": "10.249.0.2"}) {
		t.Fatalf("routes %v after a partly failed update", got)
	}

	if err := n.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := shoalRoutes(t, h); len(got) != 0 {
		t.Fatalf("routes %v left after Destroy", got)
	}
	if _, err := h.LinkByName(cfg.Bridge); !isNotFound(err) {
		t.Fatalf("bridge left after Destroy: %v", err)
	}
}

// Two nodes, each a namespace joined by a veth "wire", route to each other's
// pods through SetPeerRoutes: what a multi-node cluster on one machine does.
func TestPodsOnTwoNodesTalkThroughPeerRoutes(t *testing.T) {
	t.Parallel()
	testenv.Require(t, testenv.Root)
	nodeA, nodeB := networktest.NewNamespace(t), networktest.NewNamespace(t)
	ha, hb := nlHandle(t, nodeA), nlHandle(t, nodeB)
	defer ha.Close()
	defer hb.Close()
	wire := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "wire"}, PeerName: "wire", PeerNamespace: netlink.NsFd(nodeB)}
	if err := ha.LinkAdd(wire); err != nil {
		t.Fatal(err)
	}
	nodeIP := map[netns.Handle]netip.Addr{nodeA: netip.MustParseAddr("10.249.0.1"), nodeB: netip.MustParseAddr("10.249.0.2")}
	for _, x := range []struct {
		h  *netlink.Handle
		ns netns.Handle
	}{{ha, nodeA}, {hb, nodeB}} {
		l, err := x.h.LinkByName("wire")
		if err != nil {
			t.Fatal(err)
		}
		x.h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(nodeIP[x.ns], 24))})
		if err := x.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	cfgA, cfgB := testConfig(t, nodeA, 24), testConfig(t, nodeB, 24)
	cfgA.NodeIP, cfgB.NodeIP = nodeIP[nodeA], nodeIP[nodeB]
	na, nb := newNetwork(t, nodeA, cfgA), newNetwork(t, nodeB, cfgB)
	if err := na.SetPeerRoutes(t.Context(), []Peer{{PodCIDR: cfgB.PodCIDR, NodeIP: cfgB.NodeIP}}); err != nil {
		t.Fatal(err)
	}
	if err := nb.SetPeerRoutes(t.Context(), []Peer{{PodCIDR: cfgA.PodCIDR, NodeIP: cfgA.NodeIP}}); err != nil {
		t.Fatal(err)
	}
	pa, pb := setup(t, na, testPod("a")), setup(t, nb, testPod("b"))

	roundTrip(t, pa.NetNSPath, echoIn(t, pb.NetNSPath, pb.IP))            // pod to pod across nodes
	roundTrip(t, networktest.Path(nodeA), echoIn(t, pb.NetNSPath, pb.IP)) // node A to a pod on B

	// New enabled forwarding in each node's namespace, not in the test's.
	netns.Do(nodeA, func() error {
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(b) != "1\n" {
			t.Errorf("ip_forward in node A = %q, want 1", b)
		}
		return nil
	})
	// The bridges live in the nodes' namespaces only.
	if _, err := netlink.LinkByName(cfgA.Bridge); !isNotFound(err) {
		t.Errorf("node A's bridge appeared in the test's namespace: %v", err)
	}
}

// Config.NetNS puts the node side in a namespace given by path, whatever
// namespace New is called from; netns.DoPath opens sockets there.
func TestNodeNamespaceByPath(t *testing.T) {
	t.Parallel()
	testenv.Require(t, testenv.Root)
	node := networktest.NewNamespace(t)
	cfg := testConfig(t, node, 24)
	cfg.NetNS = networktest.Path(node)
	n := newNetwork(t, netns.None(), cfg) // called from the test's namespace
	h := nlHandle(t, node)
	defer h.Close()
	if _, err := h.LinkByName(cfg.Bridge); err != nil {
		t.Fatalf("no bridge in the node's namespace: %v", err)
	}
	if _, err := netlink.LinkByName(cfg.Bridge); !isNotFound(err) {
		t.Errorf("the bridge appeared in the test's namespace: %v", err)
	}
	netns.DoPath(cfg.NetNS, func() error {
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(b) != "1\n" {
			t.Errorf("ip_forward in the node = %q, want 1", b)
		}
		return nil
	})

	// A pod reaches a listener the test opened in the node's namespace.
	pod := setup(t, n, testPod("a"))
	var ln net.Listener
	if err := netns.DoPath(cfg.NetNS, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(n.Gateway(), 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	networktest.Echo(ln)
	roundTrip(t, pod.NetNSPath, ln.Addr().String())

	// hostNetwork pods are told to join the node's namespace.
	hn := testPod("h")
	hn.HostNetwork = true
	if s := setup(t, n, hn); s.NetNSPath != cfg.NetNS || s.IP != cfg.NodeIP {
		t.Errorf("hostNetwork sandbox: netns %q, IP %v; want %q, %v", s.NetNSPath, s.IP, cfg.NetNS, cfg.NodeIP)
	}
	if err := n.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName(cfg.Bridge); !isNotFound(err) {
		t.Errorf("bridge left in the node after Destroy: %v", err)
	}

	// A path that is not a namespace is refused.
	bad := cfg
	bad.StateDir, bad.NetNS = t.TempDir(), filepath.Join(t.TempDir(), "not-a-netns")
	os.WriteFile(bad.NetNS, nil, 0o644)
	if _, err := New(t.Context(), bad); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New with a plain file as NetNS: %v, want ErrInvalidConfig", err)
	}
}
