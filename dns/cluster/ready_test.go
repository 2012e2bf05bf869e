package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// fakeFeed delivers fixed objects and reports synced when told to.
type fakeFeed struct {
	objs   []store.Object
	synced chan struct{}
}

func newFakeFeed(objs ...store.Object) *fakeFeed {
	return &fakeFeed{objs: objs, synced: make(chan struct{})}
}

func (f *fakeFeed) Subscribe(h store.Handler) func() {
	for i, o := range f.objs {
		h(store.Event{Type: watch.Added, Object: o, Revision: int64(i + 1)})
	}
	return func() {}
}

func (f *fakeFeed) Synced() <-chan struct{} { return f.synced }

// fixtureFeeds are feeds of newFixture, not yet synced.
func fixtureFeeds() (Feeds, []*fakeFeed) {
	fx := newFixture()
	var svcs, slices, nss, pods []store.Object
	for _, n := range []string{"default", "kube-system"} {
		nss = append(nss, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	for _, o := range fx.namespaces {
		nss = append(nss, o)
	}
	for _, o := range fx.services {
		svcs = append(svcs, o)
	}
	for _, o := range fx.slices {
		slices = append(slices, o)
	}
	for _, o := range fx.pods {
		pods = append(pods, o)
	}
	all := []*fakeFeed{newFakeFeed(svcs...), newFakeFeed(slices...), newFakeFeed(nss...), newFakeFeed(pods...)}
	return Feeds{Services: all[0], EndpointSlices: all[1], Namespaces: all[2], Pods: all[3]}, all
}

// TestServfailUntilSynced: before the registry has been read in full the
// plugin is not ready and answers SERVFAIL, never NXDOMAIN.
func TestServfailUntilSynced(t *testing.T) {
	c := parseCluster(t, "cluster cluster.local in-addr.arpa {\npods verified\n}")
	feeds, all := fixtureFeeds()
	c.Start(t.Context(), feeds)
	t.Cleanup(c.Stop)
	servfail := []test.Case{
		{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, Ns: []dns.RR{soa("cluster.local.")}},
		{Qname: "nosuch.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, Ns: []dns.RR{soa("cluster.local.")}},
		{Qname: "1.0.96.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeServerFailure, Ns: []dns.RR{soa("in-addr.arpa.")}},
	}
	for _, f := range all[:3] {
		close(f.synced)
	}
	check(t, c, servfail) // pods not synced yet
	if c.Ready() {
		t.Fatal("ready before every feed synced")
	}
	close(all[3].synced)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.WaitForRevision(ctx, api.Pods.Resource, 1); err != nil {
		t.Fatal(err)
	}
	if !c.Ready() {
		t.Fatal("not ready after sync")
	}
	check(t, c, []test.Case{{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")}})
}

func TestAutoPath(t *testing.T) {
	c := parseCluster(t, "cluster cluster.local in-addr.arpa {\npods verified\n}")
	c.search = []string{"example.org."}
	feeds, all := fixtureFeeds()
	for _, f := range all {
		close(f.synced)
	}
	c.Start(t.Context(), feeds)
	t.Cleanup(c.Stop)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.WaitForRevision(ctx, api.Pods.Resource, 1); err != nil {
		t.Fatal(err)
	}
	ask := func(from, name string) []string {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		return c.AutoPath(request.Request{W: &test.ResponseWriter{RemoteIP: from}, Req: m})
	}
	want := []string{"testns.svc.cluster.local.", "svc.cluster.local.", "cluster.local.", "example.org.", ""}
	if got := ask("172.16.2.5", "svc1.testns.svc.cluster.local."); !slices.Equal(got, want) {
		t.Errorf("search path of a pod in testns: %q, want %q", got, want)
	}
	if got := ask("172.16.2.99", "svc1.testns.svc.cluster.local."); got != nil {
		t.Errorf("search path of an unknown client: %q", got)
	}
	if got := ask("172.16.2.5", "example.com."); got != nil {
		t.Errorf("search path outside the zone: %q", got)
	}
}
