package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent/network/ipam"
)

func TestTwoPodsTalkToEachOtherTheBridgeAndTheHost(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	a := setup(t, n, testPod("a"))
	b := setup(t, n, testPod("b"))

	gw := cfg.PodCIDR.Addr().Next()
	for _, s := range []*Sandbox{a, b} {
		if !cfg.PodCIDR.Contains(s.IP) || s.IP == gw || s.IP == cfg.PodCIDR.Addr() {
			t.Fatalf("pod IP %v: want a pod address of %v", s.IP, cfg.PodCIDR)
		}
	}
	if a.IP == b.IP {
		t.Fatalf("both pods got %v", a.IP)
	}
	checkPodLinks(t, n, a)

	aAddr := echoIn(t, a.NetNSPath, a.IP)
	roundTrip(t, b.NetNSPath, aAddr) // pod to pod across the bridge
	roundTrip(t, "", aAddr)          // host to pod
	hostAddr := echoIn(t, "", gw)
	roundTrip(t, a.NetNSPath, hostAddr) // pod to the bridge IP
}

// checkPodLinks checks the kernel objects of a sandbox.
func checkPodLinks(t *testing.T, n *Network, s *Sandbox) {
	t.Helper()
	host, err := netlink.LinkByName(s.HostVeth)
	if err != nil {
		t.Fatalf("host veth: %v", err)
	}
	br, _ := netlink.LinkByName(n.cfg.Bridge)
	if host.Attrs().MasterIndex != br.Attrs().Index || host.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("host veth %s not up on %s", s.HostVeth, n.cfg.Bridge)
	}
	if host.Attrs().Alias != n.vethAlias(s.UID) {
		t.Errorf("host veth alias %q, want %q", host.Attrs().Alias, n.vethAlias(s.UID))
	}
	ns, err := netns.Open(s.NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, _ := h.LinkByName("lo")
	if lo.Attrs().Flags&net.FlagUp == 0 {
		t.Error("loopback down in pod")
	}
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatalf("pod eth0: %v", err)
	}
	addrs, _ := h.AddrList(eth0, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != netip.PrefixFrom(s.IP, n.cfg.PodCIDR.Bits()).String() {
		t.Errorf("eth0 addresses %v, want %v/%d", addrs, s.IP, n.cfg.PodCIDR.Bits())
	}
	routes, _ := h.RouteList(eth0, netlink.FAMILY_V4)
	var def bool
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == n.Gateway().String() {
			def = true
		}
	}
	if !def {
		t.Errorf("no default route via %v in pod: %v", n.Gateway(), routes)
	}
}

func TestSandboxFiles(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	pod := testPod("web-0")
	pod.Namespace, pod.Hostname, pod.Subdomain = "shop", "web-0", "web"
	s := setup(t, n, pod)
	host := testPod("agent")
	host.HostNetwork = true
	hs := setup(t, n, host)

	for _, c := range []struct{ path, want string }{
		{s.ResolvConfPath, "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"},
		{s.HostsPath, hostsHeader + s.IP.String() + "\tweb-0.web.shop.svc.cluster.local\tweb-0\n"},
		// ClusterFirst on the host network means the node's resolver, as in Kubernetes.
		{hs.ResolvConfPath, "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"},
	} {
		b, err := os.ReadFile(c.path)
		if err != nil || string(b) != c.want {
			t.Errorf("%s = %q (%v), want %q", c.path, b, err, c.want)
		}
	}
	if hs.NetNSPath != "" || hs.HostsPath != "" || hs.HostVeth != "" || hs.IP != cfg.NodeIP {
		t.Errorf("hostNetwork sandbox %+v: want only a resolv.conf and the node IP", hs)
	}
	if err := n.Teardown(t.Context(), host.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(hs.ResolvConfPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("hostNetwork resolv.conf left after teardown: %v", err)
	}
}

func TestSetupIsIdempotentAndRepairs(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	pod := testPod("a")
	first := setup(t, n, pod)
	again := setup(t, n, pod)
	if *first != *again {
		t.Fatalf("second Setup gave %+v, want %+v", again, first)
	}
	// Someone deletes the host veth (and with it eth0): Setup restores both
	// with the same IP.
	l, _ := netlink.LinkByName(first.HostVeth)
	if err := netlink.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	repaired := setup(t, n, pod)
	if *repaired != *first {
		t.Fatalf("repaired sandbox %+v, want %+v", repaired, first)
	}
	checkPodLinks(t, n, repaired)
	roundTrip(t, "", echoIn(t, repaired.NetNSPath, repaired.IP))
}

func TestTeardownIsIdempotentAndLeavesNothing(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	pod := testPod("a")
	setup(t, n, pod)
	for i := range 2 {
		if err := n.Teardown(t.Context(), pod.UID); err != nil {
			t.Fatalf("Teardown #%d: %v", i+1, err)
		}
	}
	assertGone(t, n, netns.None(), pod.UID)
	if err := n.Teardown(t.Context(), "never-set-up"); err != nil {
		t.Fatalf("Teardown of an unknown pod: %v", err)
	}
	if len(n.Sandboxes()) != 0 {
		t.Fatalf("Sandboxes() = %v after teardown", n.Sandboxes())
	}

	// Half-created: a record, an IP and a namespace, but no veth.
	half := testPod("half")
	id := SandboxID(half.UID)
	ip, _ := n.ipam.Allocate(half.UID)
	r := &record{Pod: half, IP: ip, NetNS: n.netnsPath(id), HostVeth: vethPrefix + id}
	if err := n.saveRecord(id, r); err != nil {
		t.Fatal(err)
	}
	if err := netns.Create(r.NetNS); err != nil {
		t.Fatal(err)
	}
	if err := n.Teardown(t.Context(), half.UID); err != nil {
		t.Fatalf("Teardown of a half-created sandbox: %v", err)
	}
	assertGone(t, n, netns.None(), half.UID)
}

func TestCloseAndDestroy(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	a := testPod("a")
	setup(t, n, a)
	if err := n.Close(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	assertGone(t, n, netns.None(), a.UID)
	if _, err := n.Setup(t.Context(), testPod("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Setup after Close: %v, want ErrClosed", err)
	}
	if _, err := netlink.LinkByName(cfg.Bridge); err != nil {
		t.Fatalf("Close removed the bridge: %v", err)
	}

	n = newNetwork(t, netns.None(), cfg)
	b := testPod("b")
	setup(t, n, b)
	if err := n.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertGone(t, n, netns.None(), b.UID)
	if _, err := netlink.LinkByName(cfg.Bridge); !isNotFound(err) {
		t.Fatalf("bridge left after Destroy: %v", err)
	}
	if entries, _ := os.ReadDir(cfg.NetnsDir); len(entries) != 0 {
		t.Fatalf("netns dir not empty after Destroy: %v", entries)
	}
}

func TestConcurrentSetupsNeverShareAnIP(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	const pods = 12
	sandboxes := make([]*Sandbox, pods)
	uids := make([]string, pods)
	var wg sync.WaitGroup
	for i := range pods {
		pod := testPod(fmt.Sprintf("p%d", i))
		uids[i] = pod.UID
		wg.Go(func() {
			s, err := n.Setup(t.Context(), pod)
			if err != nil {
				t.Error(err)
				return
			}
			sandboxes[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	owner := map[netip.Addr]int{}
	for i, s := range sandboxes {
		if j, dup := owner[s.IP]; dup {
			t.Fatalf("pods %d and %d share %v", i, j, s.IP)
		}
		owner[s.IP] = i
	}
	if got := len(n.Sandboxes()); got != pods {
		t.Fatalf("Sandboxes() has %d entries, want %d", got, pods)
	}
	for _, uid := range uids {
		wg.Go(func() {
			if err := n.Teardown(t.Context(), uid); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, uid := range uids {
		assertGone(t, n, netns.None(), uid)
	}
}

func TestExhaustedCIDRGivesAClearErrorAndLeavesNothing(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 28) // 13 pod addresses
	n := newNetwork(t, netns.None(), cfg)
	var first Pod
	for i := range 13 {
		p := testPod(fmt.Sprintf("p%d", i))
		if i == 0 {
			first = p
		}
		setup(t, n, p)
	}
	extra := testPod("extra")
	_, err := n.Setup(t.Context(), extra)
	if !errors.Is(err, ipam.ErrExhausted) {
		t.Fatalf("14th Setup: %v, want ipam.ErrExhausted", err)
	}
	want := fmt.Sprintf("set up pod default/extra: allocate IP: pod CIDR exhausted: all 13 addresses of %v are in use", cfg.PodCIDR)
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	assertGone(t, n, netns.None(), extra.UID)

	if err := n.Teardown(t.Context(), first.UID); err != nil {
		t.Fatal(err)
	}
	setup(t, n, extra)
}

func TestSetupRejectsBadPods(t *testing.T) {
	n := &Network{cfg: Config{}.withDefaults()}
	for _, c := range []struct {
		name string
		pod  Pod
		want string
	}{
		{"no uid", Pod{Namespace: "default", Name: "a"}, `uid ""`},
		{"uid with newline", Pod{UID: "a\nb", Namespace: "default", Name: "a"}, "uid"},
		{"bad namespace", Pod{UID: "u", Namespace: "Default", Name: "a"}, `namespace "Default"`},
		{"bad hostname", Pod{UID: "u", Namespace: "default", Name: "a", Hostname: "a.b"}, `hostname "a.b"`},
		{"bad subdomain", Pod{UID: "u", Namespace: "default", Name: "a", Subdomain: "-x"}, `subdomain "-x"`},
		{"bad policy", Pod{UID: "u", Namespace: "default", Name: "a", DNSPolicy: "Cluster"}, `dnsPolicy "Cluster"`},
		{"None without servers", Pod{UID: "u", Namespace: "default", Name: "a", DNSPolicy: DNSNone}, "dnsPolicy None"},
		{"bad nameserver", Pod{UID: "u", Namespace: "default", Name: "a", DNSConfig: &DNSConfig{Nameservers: []string{"x"}}}, "dnsConfig.nameservers[0]"},
	} {
		_, err := n.Setup(t.Context(), c.pod)
		if !errors.Is(err, ErrInvalidPod) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalidPod naming %s", c.name, err, c.want)
		}
	}
}
