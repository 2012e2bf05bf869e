package cluster

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// env is a registry on an embedded etcd with the caches the plugin reads.
type env struct {
	url    string // etcd's client URL
	client *clientv3.Client
	reg    *registry.Registry
	caches *store.Caches
	revs   map[*api.Resource]int64 // last write per resource
}

func newEnv(t testing.TB) *env {
	t.Helper()
	etcd := storetest.StartEtcd(t)
	client := etcd.Client(t)
	e := &env{url: etcd.ClientURL, client: client, reg: registrytest.New(t, client, ""), revs: map[*api.Resource]int64{}}
	e.caches = store.NewCaches(store.New(client), nil)
	e.caches.Start(t.Context())
	return e
}

func (e *env) record(info *api.Info, res registry.Result) {
	rev, _ := store.ParseResourceVersion(res.Object.GetResourceVersion())
	e.revs[info.Resource] = max(e.revs[info.Resource], rev)
}

func (e *env) create(t testing.TB, info *api.Info, obj store.Object) {
	t.Helper()
	res, err := e.reg.Create(t.Context(), info, obj.DeepCopyObject().(store.Object), registry.WriteOptions{})
	if bootstrapped(obj, err) {
		return
	}
	if err != nil {
		t.Fatalf("create %s %s/%s: %v", info.Name, obj.GetNamespace(), obj.GetName(), err)
	}
	e.record(info, res)
}

func (e *env) delete(t testing.TB, info *api.Info, ns, name string) {
	t.Helper()
	if _, err := e.reg.Delete(t.Context(), info, ns, name, nil, registry.WriteOptions{}); err != nil {
		t.Fatalf("delete %s %s/%s: %v", info.Name, ns, name, err)
	}
	// A delete does not return its revision; nothing else writes to this
	// etcd, so the delete is the newest revision.
	resp, err := e.client.Get(t.Context(), "/")
	if err != nil {
		t.Fatal(err)
	}
	e.revs[info.Resource] = resp.Header.Revision
}

// load writes f into the registry (pods with their status).
func (e *env) load(t testing.TB, f fixture) {
	t.Helper()
	for _, o := range f.namespaces {
		e.create(t, api.Namespaces, o)
	}
	for _, o := range f.services {
		e.create(t, api.Services, o)
	}
	for _, o := range f.slices {
		e.create(t, api.EndpointSlices, o)
	}
	for _, p := range f.pods {
		e.create(t, api.Pods, p)
		res, err := e.reg.Update(t.Context(), api.Pods, p.Namespace, p.Name, "status", func(cur store.Object) (store.Object, error) {
			cur.(*corev1.Pod).Status = p.Status
			return cur, nil
		}, registry.WriteOptions{})
		if err != nil {
			t.Fatalf("pod status: %v", err)
		}
		e.record(api.Pods, res)
	}
}

// plugin starts a cluster plugin configured by the `cluster` block in
// corefile on e's caches, and waits until it answers e's writes.
func (e *env) plugin(t testing.TB, corefile string) *Cluster {
	t.Helper()
	c := parseCluster(t, corefile)
	c.Upstream = fakeUpstream{}
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx, FeedsFrom(e.caches, c.cfg))
	t.Cleanup(func() { cancel(); c.Stop() })
	e.wait(t, c)
	return c
}

// wait waits until c reflects every write e made.
func (e *env) wait(t testing.TB, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for res, rev := range e.revs {
		if res == api.Pods.Resource && c.cfg.Pods != PodsVerified || res == api.EndpointSlices.Resource && c.cfg.NoEndpoints {
			continue
		}
		if err := c.WaitForRevision(ctx, res, rev); err != nil {
			t.Fatal(err)
		}
	}
}

func parseCluster(t testing.TB, corefile string) *Cluster {
	t.Helper()
	ctl := caddy.NewTestController("dns", corefile)
	cfg, err := parse(ctl)
	if err != nil {
		t.Fatalf("parse %q: %v", corefile, err)
	}
	return New(cfg)
}

// fakeUpstream answers every name outside the zone with one address.
type fakeUpstream struct{}

func (fakeUpstream) Lookup(_ context.Context, state request.Request, name string, typ uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, typ)
	if typ == dns.TypeA {
		m.Answer = []dns.RR{test.A(name + " 300 IN A 203.0.113.10")}
	}
	return m, nil
}

// serve sends tc's question to h from a client at 10.240.0.1.
func serve(t *testing.T, h interface {
	ServeDNS(context.Context, dns.ResponseWriter, *dns.Msg) (int, error)
}, tc test.Case) (*dns.Msg, int) {
	t.Helper()
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	rcode, err := h.ServeDNS(context.Background(), rec, tc.Msg())
	if err != nil {
		t.Errorf("%s %s: error %v", tc.Qname, dns.TypeToString[tc.Qtype], err)
	}
	return rec.Msg, rcode
}

// check runs cases against h, comparing answers as sets.
func check(t *testing.T, h interface {
	ServeDNS(context.Context, dns.ResponseWriter, *dns.Msg) (int, error)
}, cases []test.Case) {
	t.Helper()
	for _, tc := range cases {
		resp, rcode := serve(t, h, tc)
		name := tc.Qname + " " + dns.TypeToString[tc.Qtype]
		if resp == nil {
			if rcode != tc.Rcode {
				t.Errorf("%s: rcode %s without a response, want %s", name, dns.RcodeToString[rcode], dns.RcodeToString[tc.Rcode])
			}
			continue
		}
		if !resp.Authoritative {
			t.Errorf("%s: answer not authoritative", name)
		}
		if err := test.SortAndCheck(resp, sorted(tc)); err != nil {
			t.Errorf("%s: %v\n%v", name, err, resp)
		}
	}
}

// sorted returns tc with its sections in the order SortAndCheck sorts a response.
func sorted(tc test.Case) test.Case {
	for _, s := range []*[]dns.RR{&tc.Answer, &tc.Ns, &tc.Extra} {
		*s = slices.Clone(*s)
		sort.Sort(test.RRSet(*s))
	}
	return tc
}

// soa is the SOA of zone in negative answers.
func soa(zone string) dns.RR {
	return test.SOA(zone + " 5 IN SOA ns.dns." + zone + " hostmaster." + zone + " 0 7200 1800 86400 5")
}

func lines(rrs ...string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(s + ": " + err.Error())
		}
		out[i] = rr
	}
	return out
}

// bootstrapped reports whether creating obj failed only because the
// registry's Bootstrap made it already: the kube-dns Service, which the
// fixture holds with the same spec.
func bootstrapped(obj interface {
	GetNamespace() string
	GetName() string
}, err error) bool {
	return apierrors.IsAlreadyExists(err) && obj.GetNamespace() == "kube-system" && obj.GetName() == "kube-dns"
}
