package cluster

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// feeder drives a builder with events, as the caches would, without etcd.
type feeder struct {
	b   *builder
	rev int64
}

func newFeeder(corefile string, t *testing.T) *feeder {
	return &feeder{b: newBuilder(parseCluster(t, corefile))}
}

func (f *feeder) send(typ watch.EventType, objs ...store.Object) {
	for _, o := range objs {
		f.rev++
		var feed int
		switch o.(type) {
		case *corev1.Service:
			feed = feedServices
		case *discoveryv1.EndpointSlice:
			feed = feedEndpointSlices
		case *corev1.Namespace:
			feed = feedNamespaces
		case *corev1.Pod:
			feed = feedPods
		}
		f.b.apply(feed, store.Event{Type: typ, Object: o, Revision: f.rev})
	}
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

func (f *feeder) load(fx fixture) {
	for _, ns := range []string{"default", "kube-system"} {
		f.send(watch.Added, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	for _, o := range fx.namespaces {
		f.send(watch.Added, o)
	}
	for _, o := range fx.services {
		f.send(watch.Added, o)
	}
	for _, o := range fx.slices {
		f.send(watch.Added, o)
	}
	for _, o := range fx.pods {
		f.send(watch.Added, o)
	}
}

func names(x *index) []string {
	var out []string
	x.names.all(func(k string, _ *node) { out = append(out, k) })
	slices.Sort(out)
	return out
}

// ptrs are the addresses with PTR claims, and the names they point to.
func ptrs(x *index) map[string][]string {
	out := map[string][]string{}
	x.ptrs.all(func(k ipKey, claims []ptrClaim) {
		ip := netip.AddrFrom16(k).Unmap().String()
		ptrTargets(claims, func(o *owner, host string) { out[ip] = append(out[ip], ptrName(host, o, "cluster.local.")) })
	})
	return out
}

// ask answers q from x as a plugin configured like f's builder would.
func (f *feeder) ask(t *testing.T, x *index, q test.Case) *dns.Msg {
	t.Helper()
	c := New(f.b.cfg)
	c.publish(x)
	m, _ := serve(t, c, q)
	return m
}

func TestBuilderIndex(t *testing.T) {
	f := newFeeder(`cluster cluster.local in-addr.arpa {
pods verified
}`, t)
	f.load(newFixture())
	x := f.b.build()
	// The index holds the names every zone has, the namespaces' and the
	// services'; a service's ports and endpoints are found through it.
	want := []string{
		"cluster.local.", "svc.cluster.local.", "pod.cluster.local.", "dns-version.cluster.local.", "ns.dns.cluster.local.",
		"in-addr.arpa.", "svc.in-addr.arpa.", "pod.in-addr.arpa.", "dns-version.in-addr.arpa.", "ns.dns.in-addr.arpa.",
		"default.svc.cluster.local.", "default.pod.cluster.local.", "kube-system.svc.cluster.local.", "kube-system.pod.cluster.local.",
		"testns.svc.cluster.local.", "testns.pod.cluster.local.",
		"svc1.testns.svc.cluster.local.", "noeps.testns.svc.cluster.local.", "hdls1.testns.svc.cluster.local.",
		"pubnr.testns.svc.cluster.local.", "ext.testns.svc.cluster.local.", "extin.testns.svc.cluster.local.",
		"kube-dns.kube-system.svc.cluster.local.", "dup.testns.svc.cluster.local.", "many.testns.svc.cluster.local.",
	}
	slices.Sort(want)
	if got := names(x); !slices.Equal(got, want) {
		t.Errorf("names:\n got %q\nwant %q", got, want)
	}
	wantPTR := map[string][]string{
		"10.96.0.100": {"svc1.testns.svc.cluster.local."}, "10.96.0.101": {"noeps.testns.svc.cluster.local."},
		"10.96.0.10": {"kube-dns.kube-system.svc.cluster.local."},
		"172.16.0.1": {"172-16-0-1.svc1.testns.svc.cluster.local."}, "172.16.0.2": {"172-16-0-2.svc1.testns.svc.cluster.local."},
		"172.16.1.1": {"hdls1-0.hdls1.testns.svc.cluster.local."}, "172.16.1.2": {"172-16-1-2.hdls1.testns.svc.cluster.local."},
		"fd00::1": {"hdls1-6.hdls1.testns.svc.cluster.local."}, "172.16.3.1": {"starting.pubnr.testns.svc.cluster.local."},
		// Two endpoints with one address: both names, in slice order.
		"172.16.4.2": {"172-16-4-2.dup.testns.svc.cluster.local.", "other.dup.testns.svc.cluster.local."},
		"fd00::4":    {"same.dup.testns.svc.cluster.local."},
		"172.16.5.7": {"172-16-5-7.many.testns.svc.cluster.local."},
	}
	got := ptrs(x)
	for ip, names := range wantPTR {
		if !slices.Equal(got[ip], names) {
			t.Errorf("PTR %s: %v, want %v", ip, got[ip], names)
		}
	}
	if len(got) != 32 {
		t.Errorf("%d addresses have PTRs, want 32: %v", len(got), got)
	}
	if dup := x.lookup("dup.testns.svc.cluster.local.").svc; dup.uniqueIP || dup.uniqueHost {
		t.Errorf("dup: endpoints share an address and a name, but the entry says unique: %+v", dup)
	}
	svc1 := x.lookup("svc1.testns.svc.cluster.local.").svc
	if svc1.kind != kindClusterIP || !slices.Equal(svc1.ips, []netip.Addr{netipMust("10.96.0.100")}) || len(svc1.slices) != 1 {
		t.Errorf("svc1: %+v", svc1)
	}
	hdls := x.lookup("hdls1.testns.svc.cluster.local.").svc
	if hdls.kind != kindHeadless || len(hdls.slices) != 2 || !hdls.uniqueIP || !hdls.uniqueHost {
		t.Errorf("hdls1: %+v", hdls)
	}
	if m := f.ask(t, x, test.Case{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeSRV}); len(m.Answer) != 6 || m.Answer[0].(*dns.SRV).Weight != 16 || len(m.Extra) != 3 {
		t.Errorf("hdls1 SRV: %v", m)
	}
	if n := x.lookup("dns-version.cluster.local."); n.flags != onlyTXT || n.txt.Txt[0] != SchemaVersion {
		t.Errorf("dns-version: %+v", n)
	}
	if got := x.pods; len(got) != 1 || !slices.Equal(got[netipMust("172.16.2.5")], []string{"testns"}) {
		t.Errorf("pods: %v", got)
	}
	if x.serial != uint32(f.rev) || x.revs[feedPods] != f.rev {
		t.Errorf("serial %d revs %v, want %d", x.serial, x.revs, f.rev)
	}
}

// TestBuilderIncremental checks that a round changes exactly what changed
// and leaves earlier indexes (which queries may still hold) untouched.
func TestBuilderIncremental(t *testing.T) {
	f := newFeeder(`cluster cluster.local in-addr.arpa`, t)
	fx := newFixture()
	f.load(fx)
	first := f.b.build()
	before, beforePTR := names(first), ptrs(first)
	if again := f.b.build(); again != first {
		t.Fatal("a round without events built a new index")
	}
	ptr := func(x *index, addr string) []string { return ptrs(x)[addr] }
	exists := func(x *index, name string) bool {
		m := f.ask(t, x, test.Case{Qname: name, Qtype: dns.TypeA})
		return m != nil && m.Rcode == dns.RcodeSuccess
	}

	// A cluster IP claims its PTR over an endpoint with the same address.
	clash := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "testns", Name: "clash",
		Labels: map[string]string{discoveryv1.LabelServiceName: "hdls1"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.96.0.100"}}}}
	f.send(watch.Added, clash)
	second := f.b.build()
	if got := ptr(second, "10.96.0.100"); !slices.Equal(got, []string{"svc1.testns.svc.cluster.local."}) {
		t.Errorf("PTR of a cluster IP that is also an endpoint: %v", got)
	}
	if second.lookup("svc1.testns.svc.cluster.local.") != first.lookup("svc1.testns.svc.cluster.local.") {
		t.Error("an unchanged service's node was rebuilt")
	}
	if !exists(second, "10-96-0-100.hdls1.testns.svc.cluster.local.") {
		t.Error("the new endpoint has no name")
	}

	// Deleting svc1 removes its names; its endpoint then owns the PTR.
	f.send(watch.Deleted, fx.services[0])
	third := f.b.build()
	for _, n := range []string{"svc1.testns.svc.cluster.local.", "_http._tcp.svc1.testns.svc.cluster.local.", "172-16-0-1.svc1.testns.svc.cluster.local."} {
		if exists(third, n) {
			t.Errorf("%s still answered after its service was deleted", n)
		}
	}
	if got := ptr(third, "10.96.0.100"); !slices.Equal(got, []string{"10-96-0-100.hdls1.testns.svc.cluster.local."}) {
		t.Errorf("PTR after the cluster IP went: %v", got)
	}
	if !slices.Equal(names(first), before) || !maps.EqualFunc(ptrs(first), beforePTR, slices.Equal) || !exists(first, "svc1.testns.svc.cluster.local.") {
		t.Error("a published index changed")
	}

	// A slice relabelled to another service moves its endpoints.
	moved := fx.slices[3].DeepCopy()
	moved.Labels[discoveryv1.LabelServiceName] = "hdlsempty"
	f.send(watch.Modified, moved)
	fourth := f.b.build()
	if exists(fourth, "pubnr.testns.svc.cluster.local.") || !exists(fourth, "hdlsempty.testns.svc.cluster.local.") {
		t.Error("relabelled slice: endpoints did not move from pubnr to hdlsempty")
	}
	if got := ptr(fourth, "172.16.3.1"); !slices.Equal(got, []string{"starting.hdlsempty.testns.svc.cluster.local."}) {
		t.Errorf("relabelled slice: PTR %v", got)
	}

	// A namespace going away takes its services with it; coming back restores them.
	ns := fx.namespaces[0]
	f.send(watch.Deleted, ns)
	fifth := f.b.build()
	fifth.names.all(func(name string, _ *node) {
		if dns.IsSubDomain("testns.svc.cluster.local.", name) {
			t.Errorf("%s answered without its namespace", name)
		}
	})
	if len(ptr(fifth, "172.16.1.2")) == 0 {
		t.Error("PTRs do not depend on the namespace (as in CoreDNS without `namespaces`)")
	}
	f.send(watch.Added, ns)
	if sixth := f.b.build(); !exists(sixth, "hdls1-0.hdls1.testns.svc.cluster.local.") {
		t.Error("names not back with the namespace")
	}

	// A service and its slices gone leave nothing behind.
	for _, s := range fx.slices[1:3] {
		f.send(watch.Deleted, s)
	}
	f.send(watch.Deleted, clash)
	f.send(watch.Deleted, fx.services[2])
	seventh := f.b.build()
	if _, ok := f.b.entries["testns/hdls1"]; ok || len(ptr(seventh, "172.16.1.1")) > 0 || f.b.owners["testns/hdls1"] != nil {
		t.Errorf("hdls1 left state behind: %v %v", f.b.entries["testns/hdls1"], ptr(seventh, "172.16.1.1"))
	}
}

func TestBuilderPods(t *testing.T) {
	f := newFeeder("cluster {\npods verified\n}", t)
	f.load(newFixture())
	pod := newFixture().pods[0]
	done := pod.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	f.send(watch.Modified, done)
	if x := f.b.build(); len(x.pods) != 0 {
		t.Errorf("a finished pod is still known: %v", x.pods)
	}
	twin := pod.DeepCopy()
	twin.Name, twin.Namespace = "twin", "default"
	f.send(watch.Added, pod, twin)
	if x := f.b.build(); !slices.Equal(x.pods[netipMust("172.16.2.5")], []string{"default", "testns"}) {
		t.Errorf("two pods with one address: %v", x.pods)
	}
	gone := twin.DeepCopy()
	gone.DeletionTimestamp = &metav1.Time{}
	f.send(watch.Modified, gone)
	if x := f.b.build(); !slices.Equal(x.pods[netipMust("172.16.2.5")], []string{"testns"}) {
		t.Errorf("a terminating pod is still known: %v", x.pods)
	}
}
