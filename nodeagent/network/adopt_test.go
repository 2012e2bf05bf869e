package network

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent/network/ipam"
)

func TestRestartKeepsSandboxesAndIPs(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	if _, err := New(t.Context(), cfg); !errors.Is(err, ErrStateLocked) {
		t.Fatalf("second New on a state dir in use: %v, want ErrStateLocked", err)
	}
	a, b := testPod("a"), testPod("b")
	sa, sb := setup(t, n, a), setup(t, n, b)
	if err := n.Close(t.Context(), true); err != nil {
		t.Fatal(err)
	}

	n = newNetwork(t, netns.None(), cfg)
	got := n.Sandboxes()
	if len(got) != 2 || !hasSandbox(got, sa) || !hasSandbox(got, sb) {
		t.Fatalf("after restart Sandboxes() = %+v, want %+v and %+v", got, sa, sb)
	}
	if s := setup(t, n, a); *s != *sa {
		t.Fatalf("Setup after restart gave %+v, want the adopted %+v", s, sa)
	}
	roundTrip(t, "", echoIn(t, sa.NetNSPath, sa.IP)) // still works

	c := setup(t, n, testPod("c"))
	if c.IP == sa.IP || c.IP == sb.IP {
		t.Fatalf("new pod got %v, in use by an adopted pod", c.IP)
	}
	if err := n.Teardown(t.Context(), a.UID); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	// The release is on disk too.
	alloc, err := ipam.Open(filepath.Join(cfg.StateDir, "ipam.json"), cfg.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := alloc.Lookup(a.UID); ok {
		t.Fatal("released IP still allocated on disk")
	}
	if ip, _ := alloc.Lookup(b.UID); ip != sb.IP {
		t.Fatalf("b holds %v on disk, want %v", ip, sb.IP)
	}
}

func hasSandbox(list []Sandbox, s *Sandbox) bool {
	for _, x := range list {
		if x == *s {
			return true
		}
	}
	return false
}

func TestAdoptionCleansStaleAndUnrecordedThings(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	gone, broken, ok, host := testPod("gone"), testPod("broken"), testPod("ok"), testPod("host")
	host.HostNetwork = true
	setup(t, n, gone)
	sBroken := setup(t, n, broken)
	sOK := setup(t, n, ok)
	setup(t, n, host)
	if err := n.Close(t.Context(), true); err != nil {
		t.Fatal(err)
	}

	// While the agent is down: gone's namespace disappears (as on a reboot),
	// broken's veth is deleted, and leftovers of crashes appear.
	if err := netns.Delete(n.netnsPath(SandboxID(gone.UID))); err != nil {
		t.Fatal(err)
	}
	if l, err := netlink.LinkByName(sBroken.HostVeth); err != nil || netlink.LinkDel(l) != nil {
		t.Fatalf("delete veth of broken: %v", err)
	}
	strayNS := filepath.Join(cfg.NetnsDir, NetNSName("stray"))
	if err := netns.Create(strayNS); err != nil {
		t.Fatal(err)
	}
	strayVeth := HostVethName("stray")
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: strayVeth}, PeerName: strayVeth[:12] + "p"}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	l, _ := netlink.LinkByName(strayVeth)
	netlink.LinkSetAlias(l, aliasPrefix+cfg.Bridge+":stray")
	// Someone else's veth following the naming scheme must survive.
	foreignVeth := HostVethName("foreign")
	fv := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: foreignVeth}, PeerName: foreignVeth[:12] + "p"}
	if err := netlink.LinkAdd(fv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(foreignVeth); err == nil {
			netlink.LinkDel(l)
		}
	})
	fl, _ := netlink.LinkByName(foreignVeth)
	netlink.LinkSetAlias(fl, "shoal:someotherbr:foreign")
	// An interrupted Setup: an IP and an incomplete record, nothing else.
	half := testPod("half")
	alloc, err := ipam.Open(filepath.Join(cfg.StateDir, "ipam.json"), cfg.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	halfIP, _ := alloc.Allocate(half.UID)
	id := SandboxID(half.UID)
	if err := n.saveRecord(id, &record{Pod: half, IP: halfIP, NetNS: n.netnsPath(id), HostVeth: vethPrefix + id}); err != nil {
		t.Fatal(err)
	}
	// An IP allocated to nobody with a record.
	if _, err := alloc.Allocate("orphan"); err != nil {
		t.Fatal(err)
	}
	// A record that cannot be read.
	if err := os.MkdirAll(n.sandboxDir("0123456789"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(n.sandboxDir("0123456789"), recordFile), []byte("{"), 0o644)

	n = newNetwork(t, netns.None(), cfg)

	got := n.Sandboxes()
	var uids []string
	for _, s := range got {
		uids = append(uids, s.UID)
	}
	if len(got) != 3 || !hasSandbox(got, sOK) || !hasSandbox(got, sBroken) {
		t.Fatalf("adopted %v, want broken (repaired), ok and host", uids)
	}
	for _, uid := range []string{gone.UID, half.UID, "stray"} {
		assertGone(t, n, netns.None(), uid)
	}
	if _, ok := n.ipam.Lookup("orphan"); ok {
		t.Error("IP of no sandbox not released")
	}
	if _, err := os.Stat(n.sandboxDir("0123456789")); !errors.Is(err, os.ErrNotExist) {
		t.Error("unreadable record left")
	}
	if _, err := netlink.LinkByName(foreignVeth); err != nil {
		t.Errorf("adoption removed a veth of another bridge: %v", err)
	}
	checkPodLinks(t, n, sBroken)
	roundTrip(t, sOK.NetNSPath, echoIn(t, sBroken.NetNSPath, sBroken.IP))

	// The freed addresses are handed out again; the adopted ones are not.
	for range 3 {
		s := setup(t, n, testPod("new"))
		if s.IP == sOK.IP || s.IP == sBroken.IP {
			t.Fatalf("new pod got adopted pod's %v", s.IP)
		}
	}
}

func TestAdoptionAfterCIDRChangeRemovesOldSandboxes(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, netns.None(), 24)
	n := newNetwork(t, netns.None(), cfg)
	old := testPod("old")
	setup(t, n, old)
	if err := n.Close(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	oldCIDR := cfg.PodCIDR
	cfg.PodCIDR = testCIDR(24)
	n = newNetwork(t, netns.None(), cfg)
	if len(n.Sandboxes()) != 0 {
		t.Fatalf("adopted %v from the old CIDR", n.Sandboxes())
	}
	assertGone(t, n, netns.None(), old.UID)
	br, _ := netlink.LinkByName(cfg.Bridge)
	addrs, _ := netlink.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != netip.PrefixFrom(cfg.PodCIDR.Addr().Next(), 24).String() {
		t.Fatalf("bridge addresses %v after CIDR change from %v to %v", addrs, oldCIDR, cfg.PodCIDR)
	}
}
