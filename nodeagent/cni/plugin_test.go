package cni_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent/cni"
	"github.com/shoalmesh/shoal/nodeagent/network/networktest"
)

// TestAddCheckDel drives one pod through ADD, CHECK and DEL as containerd
// does (libcni running the plugin from the bin directory) and checks the
// result and the kernel at each step.
func TestAddCheckDel(t *testing.T) {
	n := newNode(t, nodeConfig(t))
	gw := n.nn.Gateway()
	p := n.add(t)

	r := p.result
	if !n.cfg.PodCIDR.Contains(p.ip) || p.ip == gw || p.ip == n.cfg.PodCIDR.Addr() {
		t.Errorf("pod IP %v: want a pod address of %v", p.ip, n.cfg.PodCIDR)
	}
	if ones, _ := r.IPs[0].Address.Mask.Size(); ones != n.cfg.PodCIDR.Bits() {
		t.Errorf("address %v: want the pod CIDR's length %d", r.IPs[0].Address.String(), n.cfg.PodCIDR.Bits())
	}
	if !r.IPs[0].Gateway.Equal(gw.AsSlice()) {
		t.Errorf("gateway %v, want %v", r.IPs[0].Gateway, gw)
	}
	if i := r.IPs[0].Interface; i == nil || *i >= len(r.Interfaces) || r.Interfaces[*i].Name != "eth0" || r.Interfaces[*i].Sandbox != p.ns {
		t.Errorf("the IP's interface is not eth0 in %s: %+v, %+v", p.ns, r.IPs[0], r.Interfaces)
	}
	if len(r.Routes) != 1 || r.Routes[0].Dst.String() != "0.0.0.0/0" || !r.Routes[0].GW.Equal(gw.AsSlice()) {
		t.Errorf("routes %v, want the default via %v", r.Routes, gw)
	}
	if got := n.vethsOnBridge(t); len(got) != 1 || got[0] != r.Interfaces[0].Name {
		t.Errorf("on the bridge: %v, want the host veth %s", got, r.Interfaces[0].Name)
	}
	if got := n.allocations(t); len(got) != 1 || got[p.ip.String()] != p.id+"/eth0" {
		t.Errorf("allocations %v, want %v for %s/eth0", got, p.ip, p.id)
	}

	// The node reaches the pod, and the pod the node through its gateway.
	roundTrip(t, n.ns, echo(t, p.ns, netip.AddrPortFrom(p.ip, 0).String()))
	roundTrip(t, p.ns, echo(t, n.ns, netip.AddrPortFrom(gw, 0).String()))

	if err := n.check(p); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	h := nlHandle(t, p.ns)
	defer h.Close()
	if err := h.RouteDel(&netlink.Route{Dst: nil, Gw: gw.AsSlice(), LinkIndex: mustLink(t, h, "eth0").Attrs().Index}); err != nil {
		t.Fatal(err)
	}
	if err := n.check(p); err == nil || !strings.Contains(err.Error(), "no default route") {
		t.Errorf("CHECK without the default route: %v, want an error saying so", err)
	}

	n.del(t, p)
	if got := n.veths(t); len(got) > 0 {
		t.Errorf("veths after DEL: %v", got)
	}
	if got := n.allocations(t); len(got) > 0 {
		t.Errorf("allocations after DEL: %v", got)
	}
	n.del(t, p) // again: nothing to do

	// A sandbox whose namespace is gone (the veth went with it) is deleted
	// all the same, and its address released.
	q := n.add(t)
	if err := netns.Delete(q.ns); err != nil {
		t.Fatal(err)
	}
	n.del(t, q)
	if got := n.allocations(t); len(got) > 0 {
		t.Errorf("allocations after DEL of a gone namespace: %v", got)
	}
}

func mustLink(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestConcurrentAddsGetDistinctAddresses runs a burst of plugin processes
// at once, as containerd does when pods start together.
func TestConcurrentAddsGetDistinctAddresses(t *testing.T) {
	n := newNode(t, nodeConfig(t))
	const count = 12
	pods := make([]*pod, count)
	for i := range pods {
		pods[i] = &pod{id: newID(), ns: networktest.Pinned(t)}
	}
	list := n.confList(t)
	results := make([]types.Result, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() { results[i], errs[i] = n.exec.AddNetworkList(t.Context(), list, runtimeConf(p, nil)) })
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for i, p := range pods {
		if errs[i] != nil {
			t.Fatalf("ADD %d: %v", i, errs[i])
		}
		n.setResult(t, p, results[i])
		if seen[p.ip] || !n.cfg.PodCIDR.Contains(p.ip) {
			t.Errorf("pod %d got %v: taken or outside %v", i, p.ip, n.cfg.PodCIDR)
		}
		seen[p.ip] = true
	}
	if got := n.allocations(t); len(got) != count {
		t.Errorf("%d allocations, want %d: %v", len(got), count, got)
	}
	if got := n.vethsOnBridge(t); len(got) != count {
		t.Errorf("%d veths on the bridge, want %d", len(got), count)
	}
	for i, p := range pods {
		wg.Go(func() { errs[i] = n.exec.DelNetworkList(t.Context(), list, runtimeConf(p, nil)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if got := n.allocations(t); len(got) > 0 {
		t.Errorf("allocations after DEL: %v", got)
	}
	if got := n.veths(t); len(got) > 0 {
		t.Errorf("veths after DEL: %v", got)
	}
}

// TestRestartKeepsPodsAndAddresses closes the node network without removing
// it, as an agent that stops while pods run, and sets it up again.
func TestRestartKeepsPodsAndAddresses(t *testing.T) {
	cfg := nodeConfig(t)
	n := newNode(t, cfg)
	ports := map[string]any{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}
	a, b := n.add(t), n.add(t, ports)
	addr := echo(t, a.ns, netip.AddrPortFrom(a.ip, 0).String())

	if _, err := cni.SetupNode(t.Context(), cfg); !errors.Is(err, cni.ErrStateLocked) {
		t.Fatalf("a second SetupNode on the state directory: %v, want ErrStateLocked", err)
	}
	if err := n.nn.Close(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, n.ns, addr) // the network stays while the agent is away
	nn, err := cni.SetupNode(t.Context(), cfg)
	if err != nil {
		t.Fatalf("SetupNode again: %v", err)
	}
	n.nn = nn
	roundTrip(t, n.ns, addr)
	if got := hostPortOwners(t, n); !slices.Equal(got, []string{b.id + "/eth0"}) {
		t.Errorf("hostPort owners after restart: %v, want %s's", got, b.id)
	}
	if got := postroutingRules(t, n); got != 1 {
		t.Errorf("%d masquerade rules after restart, want 1", got)
	}

	c := n.add(t)
	if c.ip == a.ip || c.ip == b.ip {
		t.Errorf("new pod got %v, in use by %v or %v", c.ip, a.ip, b.ip)
	}
	res, err := n.exec.AddNetworkList(t.Context(), n.confList(t), runtimeConf(a, nil))
	if err != nil {
		t.Fatalf("ADD again: %v", err)
	}
	again := &pod{}
	n.setResult(t, again, res)
	if again.ip != a.ip {
		t.Errorf("a repeated ADD gave %v, want the same %v", again.ip, a.ip)
	}
	roundTrip(t, n.ns, addr)
	for _, p := range []*pod{a, b, c} {
		n.del(t, p)
	}
}

// TestPluginErrors runs the plugin binary directly, as a runtime does, and
// checks VERSION, a 0.4.0 ADD, and the error results of bad calls, none of
// which may leave anything behind.
func TestPluginErrors(t *testing.T) {
	n := newNode(t, nodeConfig(t))
	sandbox := networktest.Pinned(t)
	env := func(cmd string) map[string]string {
		return map[string]string{"CNI_COMMAND": cmd, "CNI_CONTAINERID": "c1", "CNI_NETNS": sandbox, "CNI_IFNAME": "eth0"}
	}

	r, err := n.invoke(t, map[string]string{"CNI_COMMAND": "VERSION"}, `{"cniVersion":"1.0.0"}`)
	if err != nil || !slices.Equal(r.Supported, cni.SpecVersions) {
		t.Errorf("VERSION: %v %s, want %v", err, r.Raw, cni.SpecVersions)
	}

	old := n.pluginConf(t, func(m map[string]any) { m["cniVersion"] = "0.4.0" })
	r, err = n.invoke(t, env("ADD"), old)
	if err != nil || r.CNIVersion != "0.4.0" || len(r.IPs) != 1 || len(r.Interfaces) != 2 {
		t.Errorf("ADD with 0.4.0: %v %s, want a 0.4.0 result with an IP and two interfaces", err, r.Raw)
	}
	if _, err := n.invoke(t, env("DEL"), old); err != nil {
		t.Errorf("DEL with 0.4.0: %v", err)
	}

	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	tests := []struct {
		name string
		env  map[string]string
		conf string
		code uint
		msg  string
	}{
		{"not JSON", env("ADD"), `{"cniVersion":"1.0.0","name":"shoal",`, types.ErrDecodingFailure, ""},
		{"bad bridge", env("ADD"), n.pluginConf(t, set("bridge", "a/b")), types.ErrInvalidNetworkConfig, "bridge"},
		{"no pod CIDR", env("ADD"), n.pluginConf(t, set("podCIDR", "")), types.ErrInvalidNetworkConfig, "podCIDR"},
		{"pod CIDR host bits", env("ADD"), n.pluginConf(t, set("podCIDR", "10.248.1.5/24")), types.ErrInvalidNetworkConfig, "host bits"},
		{"wrong gateway", env("ADD"), n.pluginConf(t, set("gateway", "10.248.1.9")), types.ErrInvalidNetworkConfig, "gateway"},
		{"relative state dir", env("ADD"), n.pluginConf(t, set("stateDir", "state")), types.ErrInvalidNetworkConfig, "stateDir"},
		{"bad hostPort protocol", env("ADD"), n.pluginConf(t, set("runtimeConfig", map[string]any{
			"portMappings": []map[string]any{{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}}})), types.ErrInvalidNetworkConfig, "protocol"},
		{"bad hostPort", env("ADD"), n.pluginConf(t, set("runtimeConfig", map[string]any{
			"portMappings": []map[string]any{{"hostPort": 70000, "containerPort": 80}}})), types.ErrInvalidNetworkConfig, "70000"},
		{"spec 1.1.0", env("ADD"), n.pluginConf(t, set("cniVersion", "1.1.0")), types.ErrIncompatibleCNIVersion, "incompatible"},
		{"spec 0.3.1", env("ADD"), n.pluginConf(t, set("cniVersion", "0.3.1")), types.ErrIncompatibleCNIVersion, "incompatible"},
		{"missing sandbox namespace", map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": sandbox + "-missing", "CNI_IFNAME": "eth0"},
			n.pluginConf(t, nil), types.ErrInvalidNetNS, "-missing"},
		{"no container ID", map[string]string{"CNI_COMMAND": "ADD", "CNI_NETNS": sandbox, "CNI_IFNAME": "eth0"},
			n.pluginConf(t, nil), types.ErrInvalidEnvironmentVariables, "CNI_CONTAINERID"},
		{"CHECK of nothing", env("CHECK"), n.pluginConf(t, nil), types.ErrUnknownContainer, "no address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := n.invoke(t, tc.env, tc.conf)
			if err == nil || r.Code != tc.code || !strings.Contains(r.Msg, tc.msg) {
				t.Errorf("exit %v, result %s; want code %d with %q in msg", err, r.Raw, tc.code, tc.msg)
			}
		})
	}
	if got := n.allocations(t); len(got) > 0 {
		t.Errorf("allocations after failed calls: %v", got)
	}
	if got := n.veths(t); len(got) > 0 {
		t.Errorf("veths after failed calls: %v", got)
	}
}

// TestFailedAddLeavesNothing makes ADD fail after it allocated an address:
// on a full pod CIDR, and on a bridge name taken by another interface.
func TestFailedAddLeavesNothing(t *testing.T) {
	cfg := nodeConfig(t)
	cfg.PodCIDR = netip.PrefixFrom(cfg.PodCIDR.Addr(), 30) // one pod address
	n := newNode(t, cfg)
	p := n.add(t)
	q := &pod{id: newID(), ns: networktest.Pinned(t)}
	_, err := n.exec.AddNetworkList(t.Context(), n.confList(t), runtimeConf(q, nil))
	if err == nil || !strings.Contains(err.Error(), "exhausted") {
		t.Errorf("ADD on a full pod CIDR: %v, want an error saying it is exhausted", err)
	}
	n.del(t, p)

	// The bridge's name taken by a veth: ADD cannot attach the pod.
	h := nlHandle(t, n.ns)
	defer h.Close()
	if err := h.LinkDel(mustLink(t, h, cfg.Bridge)); err != nil {
		t.Fatal(err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = cfg.Bridge
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: networktest.Name("wire")}); err != nil {
		t.Fatal(err)
	}
	_, err = n.exec.AddNetworkList(t.Context(), n.confList(t), runtimeConf(q, nil))
	if err == nil || !strings.Contains(err.Error(), "is a veth") {
		t.Errorf("ADD with the bridge's name taken: %v, want an error naming the veth", err)
	}
	if got := n.allocations(t); len(got) > 0 {
		t.Errorf("allocations after failed ADDs: %v", got)
	}
	if got := n.veths(t); len(got) != 1 || got[0] != cfg.Bridge {
		t.Errorf("veths after failed ADDs: %v, want only the impostor %s", got, cfg.Bridge)
	}
	if err := h.LinkDel(mustLink(t, h, cfg.Bridge)); err != nil {
		t.Fatal(err)
	}
}

// TestMasqueradeOnlyLeavingTheCluster connects the node to a namespace
// standing in for the rest of the world, which has an address outside the
// cluster, one in the service CIDR and one in another node's pod CIDR:
// only traffic to the first is masqueraded.
func TestMasqueradeOnlyLeavingTheCluster(t *testing.T) {
	cfg := nodeConfig(t)
	cfg.NodeIP = netip.MustParseAddr("10.246.0.1")
	world := networktest.Pinned(t)
	networktest.Connect(t, cfg.NetNS, netip.MustParsePrefix("10.246.0.1/24"), world, netip.MustParsePrefix("10.246.0.2/24"))
	n := newNode(t, cfg)
	p := n.add(t)

	otherNode := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 248, cfg.PodCIDR.Addr().As4()[2] + 1, 0}), 24)
	vip, otherPod := netip.MustParseAddr("10.97.0.10"), otherNode.Addr().Next().Next()
	wh := nlHandle(t, world)
	defer wh.Close()
	for _, a := range []netip.Addr{vip, otherPod} {
		if err := wh.AddrAdd(mustLink(t, wh, "lo"), &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			t.Fatal(err)
		}
	}
	// The world answers the pod network through the node; the node reaches
	// the VIP and the other node's pods through the world.
	if err := wh.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: cfg.PodCIDR.Addr().AsSlice(), Mask: net.CIDRMask(24, 32)}, Gw: net.IPv4(10, 246, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	nh := nlHandle(t, n.ns)
	defer nh.Close()
	if err := nh.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.IPv4(10, 97, 0, 0), Mask: net.CIDRMask(16, 32)}, Gw: net.IPv4(10, 246, 0, 2)}); err != nil {
		t.Fatal(err)
	}
	if err := n.nn.SetPeerRoutes(t.Context(), []cni.Peer{{PodCIDR: otherNode, NodeIP: netip.MustParseAddr("10.246.0.2")}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		dst  netip.Addr
		want netip.Addr
	}{
		{"outside the cluster", netip.MustParseAddr("10.246.0.2"), cfg.NodeIP},
		{"a service VIP", vip, p.ip},
		{"another node's pod", otherPod, p.ip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, seen := peers(t, world, netip.AddrPortFrom(tc.dst, 0).String())
			if got := sourceSeen(t, p.ns, addr, seen); got != tc.want {
				t.Errorf("the server at %s saw %v, want %v", addr, got, tc.want)
			}
		})
	}
	n.del(t, p)
}

// TestPodsOnTwoNodes: pods on two nodes on one wire reach each other through
// the peer routes, keeping their addresses.
func TestPodsOnTwoNodes(t *testing.T) {
	cfgA, cfgB := nodeConfig(t), nodeConfig(t)
	cfgA.NodeIP, cfgB.NodeIP = netip.MustParseAddr("10.246.1.1"), netip.MustParseAddr("10.246.1.2")
	networktest.Connect(t, cfgA.NetNS, netip.PrefixFrom(cfgA.NodeIP, 24), cfgB.NetNS, netip.PrefixFrom(cfgB.NodeIP, 24))
	a, b := newNode(t, cfgA), newNode(t, cfgB)
	if err := a.nn.SetPeerRoutes(t.Context(), []cni.Peer{{PodCIDR: cfgB.PodCIDR, NodeIP: cfgB.NodeIP}}); err != nil {
		t.Fatal(err)
	}
	if err := b.nn.SetPeerRoutes(t.Context(), []cni.Peer{{PodCIDR: cfgA.PodCIDR, NodeIP: cfgA.NodeIP}}); err != nil {
		t.Fatal(err)
	}
	pa, pb := a.add(t), b.add(t)
	addr, seen := peers(t, pb.ns, netip.AddrPortFrom(pb.ip, 0).String())
	if got := sourceSeen(t, pa.ns, addr, seen); got != pa.ip {
		t.Errorf("pod on B saw %v, want pod A's %v", got, pa.ip)
	}
	if err := a.nn.SetPeerRoutes(t.Context(), []cni.Peer{{PodCIDR: cfgA.PodCIDR, NodeIP: cfgB.NodeIP}}); err == nil {
		t.Error("a peer with this node's own pod CIDR was accepted")
	}
	a.del(t, pa)
	b.del(t, pb)
}

// TestHostPort maps a node port to a pod's port through the portMappings
// capability: reached from another machine and from the node, and gone
// after DEL.
func TestHostPort(t *testing.T) {
	cfg := nodeConfig(t)
	cfg.NodeIP = netip.MustParseAddr("10.246.2.1")
	world := networktest.Pinned(t)
	networktest.Connect(t, cfg.NetNS, netip.PrefixFrom(cfg.NodeIP, 24), world, netip.MustParsePrefix("10.246.2.2/24"))
	n := newNode(t, cfg)
	ports := []map[string]any{
		{"hostPort": 30080, "containerPort": 8080, "protocol": "tcp"},
		{"hostPort": 30081, "containerPort": 8080, "protocol": "tcp", "hostIP": cfg.NodeIP.String()},
		{"hostPort": 30082, "containerPort": 8080, "protocol": "tcp", "hostIP": "10.246.9.9"}, // not this node's
	}
	p := n.add(t, ports...)
	echo(t, p.ns, "0.0.0.0:8080")
	front := netip.AddrPortFrom(cfg.NodeIP, 30080).String()
	roundTrip(t, world, front)
	roundTrip(t, n.ns, front)
	roundTrip(t, world, netip.AddrPortFrom(cfg.NodeIP, 30081).String())
	if err := tryRoundTrip(t.Context(), world, netip.AddrPortFrom(cfg.NodeIP, 30082).String()); err == nil {
		t.Error("a hostPort bound to another host IP answers on the node IP")
	}
	if err := n.exec.CheckNetworkList(t.Context(), n.confList(t), runtimeConf(p, ports)); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if got := hostPortOwners(t, n); !slices.Equal(got, []string{p.id + "/eth0"}) {
		t.Errorf("hostPort owners %v, want the pod's", got)
	}
	n.del(t, p, ports...)
	if got := hostPortOwners(t, n); len(got) > 0 {
		t.Errorf("hostPort owners after DEL: %v", got)
	}
	if err := tryRoundTrip(t.Context(), world, front); err == nil {
		t.Errorf("%s still answers after DEL", front)
	}
}

// BenchmarkAddDel times the plugin alone, as containerd runs it (a process
// per call, through libcni): ADD and DEL of one sandbox at a time. Run as
// root without -race (a race binary takes a second to start here):
//
//	flock /tmp/shoal-root.lock go test -run '^$' -bench AddDel -benchtime 50x ./nodeagent/cni/
func BenchmarkAddDel(b *testing.B) {
	n := newNode(b, nodeConfig(b))
	list := n.confList(b)
	var add, del []time.Duration
	for range b.N {
		b.StopTimer()
		p := &pod{id: newID(), ns: networktest.Pinned(b)}
		b.StartTimer()
		t0 := time.Now()
		if _, err := n.exec.AddNetworkList(b.Context(), list, runtimeConf(p, nil)); err != nil {
			b.Fatal(err)
		}
		add = append(add, time.Since(t0))
		t0 = time.Now()
		if err := n.exec.DelNetworkList(b.Context(), list, runtimeConf(p, nil)); err != nil {
			b.Fatal(err)
		}
		del = append(del, time.Since(t0))
	}
	b.ReportMetric(median(add), "add-p50-ms")
	b.ReportMetric(median(del), "del-p50-ms")
}
