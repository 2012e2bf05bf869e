package cluster

import (
	"net/netip"
	"slices"
	"testing"

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

func TestBuilderNames(t *testing.T) {
	f := newFeeder(`cluster cluster.local in-addr.arpa {
pods verified
}`, t)
	f.load(newFixture())
	x := f.b.build()
	want := []string{
		"cluster.local.", "svc.cluster.local.", "pod.cluster.local.", "dns-version.cluster.local.", "ns.dns.cluster.local.",
		"in-addr.arpa.", "svc.in-addr.arpa.", "pod.in-addr.arpa.", "dns-version.in-addr.arpa.", "ns.dns.in-addr.arpa.",
		"default.svc.cluster.local.", "default.pod.cluster.local.", "kube-system.svc.cluster.local.", "kube-system.pod.cluster.local.",
		"testns.svc.cluster.local.", "testns.pod.cluster.local.",
		"svc1.testns.svc.cluster.local.", "_http._tcp.svc1.testns.svc.cluster.local.", "_https._tcp.svc1.testns.svc.cluster.local.",
		"_dns._udp.svc1.testns.svc.cluster.local.", "172-16-0-1.svc1.testns.svc.cluster.local.", "172-16-0-2.svc1.testns.svc.cluster.local.",
		"noeps.testns.svc.cluster.local.",
		"hdls1.testns.svc.cluster.local.", "_http._tcp.hdls1.testns.svc.cluster.local.", "_c-port._udp.hdls1.testns.svc.cluster.local.",
		"hdls1-0.hdls1.testns.svc.cluster.local.", "172-16-1-2.hdls1.testns.svc.cluster.local.", "hdls1-6.hdls1.testns.svc.cluster.local.",
		"pubnr.testns.svc.cluster.local.", "starting.pubnr.testns.svc.cluster.local.",
		"ext.testns.svc.cluster.local.", "extin.testns.svc.cluster.local.",
		"kube-dns.kube-system.svc.cluster.local.", "_dns._udp.kube-dns.kube-system.svc.cluster.local.", "_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local.",
		// PTRs in the one reverse zone configured (no ip6.arpa: fd00::1 has none).
		"100.0.96.10.in-addr.arpa.", "101.0.96.10.in-addr.arpa.", "10.0.96.10.in-addr.arpa.",
		"1.0.16.172.in-addr.arpa.", "2.0.16.172.in-addr.arpa.", "1.1.16.172.in-addr.arpa.", "2.1.16.172.in-addr.arpa.", "1.3.16.172.in-addr.arpa.",
	}
	slices.Sort(want)
	if got := names(x); !slices.Equal(got, want) {
		t.Errorf("names:\n got %q\nwant %q", got, want)
	}
	// Records are made once per service and shared: the SRV additional
	// address is the A answer.
	n := x.names.get("svc1.testns.svc.cluster.local.")
	if len(n.a) != 1 || len(n.xa) != 1 || n.a[0] != n.xa[0] || n.weight != 33 {
		t.Errorf("svc1: a %v xa %v weight %d", n.a, n.xa, n.weight)
	}
	if n := x.names.get("hdls1.testns.svc.cluster.local."); n.weight != 16 || len(n.srv) != 6 || len(n.a) != 2 || len(n.aaaa) != 1 {
		t.Errorf("hdls1: %+v", n)
	}
	if n := x.names.get("dns-version.cluster.local."); n.flags != onlyTXT || n.txt.Txt[0] != SchemaVersion {
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
	before := names(first)
	if again := f.b.build(); again != first {
		t.Fatal("a round without events built a new index")
	}

	// A cluster IP claims its PTR over an endpoint with the same address.
	clash := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "testns", Name: "clash",
		Labels: map[string]string{discoveryv1.LabelServiceName: "hdls1"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.96.0.100"}}}}
	f.send(watch.Added, clash)
	second := f.b.build()
	if got := second.names.get("100.0.96.10.in-addr.arpa.").ptr; len(got) != 1 || got[0].Ptr != "svc1.testns.svc.cluster.local." {
		t.Errorf("PTR of a cluster IP that is also an endpoint: %v", got)
	}
	if second.names.get("svc1.testns.svc.cluster.local.") != first.names.get("svc1.testns.svc.cluster.local.") {
		t.Error("an unchanged service's node was rebuilt")
	}
	if second.names.get("10-96-0-100.hdls1.testns.svc.cluster.local.") == nil {
		t.Error("the new endpoint has no name")
	}

	// Deleting svc1 removes its names; its endpoint then owns the PTR.
	f.send(watch.Deleted, fx.services[0])
	third := f.b.build()
	for _, n := range []string{"svc1.testns.svc.cluster.local.", "_http._tcp.svc1.testns.svc.cluster.local.", "172-16-0-1.svc1.testns.svc.cluster.local."} {
		if third.names.get(n) != nil {
			t.Errorf("%s still answered after its service was deleted", n)
		}
	}
	if got := third.names.get("100.0.96.10.in-addr.arpa.").ptr; len(got) != 1 || got[0].Ptr != "10-96-0-100.hdls1.testns.svc.cluster.local." {
		t.Errorf("PTR after the cluster IP went: %v", got)
	}
	if !slices.Equal(names(first), before) || first.names.get("svc1.testns.svc.cluster.local.") == nil {
		t.Error("a published index changed")
	}

	// A slice relabelled to another service moves its endpoints.
	moved := fx.slices[3].DeepCopy()
	moved.Labels[discoveryv1.LabelServiceName] = "hdlsempty"
	f.send(watch.Modified, moved)
	fourth := f.b.build()
	if fourth.names.get("pubnr.testns.svc.cluster.local.") != nil || fourth.names.get("hdlsempty.testns.svc.cluster.local.") == nil {
		t.Error("relabelled slice: endpoints did not move from pubnr to hdlsempty")
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
	if fifth.names.get("2.1.16.172.in-addr.arpa.") == nil {
		t.Error("PTRs do not depend on the namespace (as in CoreDNS without `namespaces`)")
	}
	f.send(watch.Added, ns)
	if sixth := f.b.build(); sixth.names.get("hdls1-0.hdls1.testns.svc.cluster.local.") == nil {
		t.Error("names not back with the namespace")
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
