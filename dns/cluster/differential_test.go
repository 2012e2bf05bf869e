package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/kubernetes"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/dns/cluster"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// intendedDifferences are the queries where Shoal answers otherwise than
// CoreDNS's kubernetes plugin on purpose (see README.md), with what each
// answers; the test checks both, so a difference that goes away or changes
// shows. NS at the apex and ns.dns.<zone>: CoreDNS answers with the
// non-loopback addresses the server is bound to (none here: NODATA); Shoal
// names ns.dns.<zone> at the kube-dns Service's cluster IP (10.96.0.10
// without one), the address pods use.
//
// `_` as the port or protocol label: CoreDNS reads it as "any port" (a
// leftover of its removed wildcard support); Shoal answers NXDOMAIN.
var intendedDifferences = map[string]struct{ coredns, shoal test.Case }{
	"cluster.local. NS": {
		coredns: test.Case{Rcode: dns.RcodeSuccess, Ns: []dns.RR{apexSOA}},
		shoal: test.Case{Rcode: dns.RcodeSuccess,
			Answer: []dns.RR{test.NS("cluster.local. 5 IN NS ns.dns.cluster.local.")},
			Extra:  []dns.RR{test.A("ns.dns.cluster.local. 5 IN A 10.96.0.10")}},
	},
	"ns.dns.cluster.local. A": {
		coredns: test.Case{Rcode: dns.RcodeSuccess, Ns: []dns.RR{apexSOA}},
		shoal:   test.Case{Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A("ns.dns.cluster.local. 5 IN A 10.96.0.10")}},
	},
	"_._tcp.svc1.testns.svc.cluster.local. SRV": {
		coredns: test.Case{Rcode: dns.RcodeSuccess,
			Answer: []dns.RR{
				test.SRV("_._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 50 80 svc1.testns.svc.cluster.local."),
				test.SRV("_._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 50 443 svc1.testns.svc.cluster.local."),
			},
			Extra: []dns.RR{test.A("svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")}},
		shoal: test.Case{Rcode: dns.RcodeNameError, Ns: []dns.RR{apexSOA}},
	},
}

// apexSOA is the zone's SOA as both plugins write it (serials differ and
// are not compared).
var apexSOA = test.SOA("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5")

// TestDifferential gives CoreDNS's kubernetes plugin (reading Shoal's API
// server through a kubeconfig, with client-go informers) and Shoal's
// cluster plugin (reading Shoal's etcd through the process's caches) the
// same objects and options, and checks that they answer the whole
// conformance query set alike, record order aside.
//
// The kubernetes plugin is built as its setup does but without calling
// setup, which sets klog's global logger (unsynchronized) while Shoal's
// controllers log: a data race that is CoreDNS's, not ours. Both plugins
// resolve an ExternalName's target with the same fake upstream.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole Shoal")
	}
	s := clustertest.Start(t, clustertest.Options{})
	loadThroughAPI(t, s.Clientset(t))

	c := caddy.NewTestController("dns", "kubernetes cluster.local in-addr.arpa ip6.arpa {\n kubeconfig "+s.Kubeconfig+"\n pods verified\n}")
	c.Next()
	k, err := kubernetes.ParseStanza(c)
	if err != nil {
		t.Fatal(err)
	}
	k.Upstream = upstream{}
	onStart, onShut, err := k.InitKubeCache(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := onStart(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onShut() })
	coredns := k

	shoal := cluster.New(cluster.Config{Zones: []string{"cluster.local.", "in-addr.arpa.", "ip6.arpa."}, TTL: 5, Pods: cluster.PodsVerified})
	shoal.Upstream = upstream{}
	ctx, cancel := context.WithCancel(context.Background())
	shoal.Start(ctx, cluster.FeedsFrom(s.Caches, shoal.Config()))
	t.Cleanup(func() { cancel(); shoal.Stop() })

	// Both have the fixture once its last object of each kind answers.
	for _, h := range []plugin.Handler{coredns, shoal} {
		testenv.Eventually(t, 20*time.Second, "sync "+h.Name(), func() error {
			for _, q := range []test.Case{
				{Qname: "kube-dns.kube-system.svc.cluster.local.", Qtype: dns.TypeA},
				{Qname: "pubnr.testns.svc.cluster.local.", Qtype: dns.TypeA},
				{Qname: "172-16-2-5.testns.pod.cluster.local.", Qtype: dns.TypeA},
			} {
				if m := ask(h, q); m == nil || len(m.Answer) == 0 {
					return fmt.Errorf("%s: %v", q.Qname, m)
				}
			}
			return nil
		})
	}

	queries := append(slices.Clone(cluster.ConformanceCases),
		test.Case{Qname: "cluster.local.", Qtype: dns.TypeAXFR},
		test.Case{Qname: "web-1.svc1.testns.svc.cluster.local.", Qtype: dns.TypeA},
		test.Case{Qname: "1-2-3-4.testns.pod.cluster.local.", Qtype: dns.TypeA},
		test.Case{Qname: "2.0.16.172.in-addr.arpa.", Qtype: dns.TypePTR},
		test.Case{Qname: "1.0.0.127.in-addr.arpa.", Qtype: dns.TypePTR},
		test.Case{Qname: "kubernetes.default.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "ext.testns.svc.cluster.local.", Qtype: dns.TypeAAAA},
		test.Case{Qname: "ext.testns.svc.cluster.local.", Qtype: dns.TypeTXT},
		test.Case{Qname: "_https._tcp.kubernetes.default.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "in-addr.arpa.", Qtype: dns.TypePTR},
		test.Case{Qname: "svc.in-addr.arpa.", Qtype: dns.TypeA},
		test.Case{Qname: "1.0.96.in-addr.arpa.", Qtype: dns.TypePTR},
		test.Case{Qname: "x.in-addr.arpa.", Qtype: dns.TypePTR},
		test.Case{Qname: "dns-version.in-addr.arpa.", Qtype: dns.TypeTXT},
		test.Case{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeANY},
		test.Case{Qname: "172-16-2-5.testns.pod.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "172-16-2-5.testns.pod.cluster.local.", Qtype: dns.TypeTXT},
		test.Case{Qname: "x.172-16-2-5.testns.pod.cluster.local.", Qtype: dns.TypeA},
		test.Case{Qname: "Dns-Version.Cluster.Local.", Qtype: dns.TypeTXT},
		test.Case{Qname: "HDLS1.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "_http.tcp.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "__http._tcp.svc1.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "testns.pod.cluster.local.", Qtype: dns.TypeTXT},
		test.Case{Qname: "kube-system.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "_._tcp.svc1.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		// Endpoints sharing a name or an address, a port number twice, many endpoints.
		test.Case{Qname: "dup.testns.svc.cluster.local.", Qtype: dns.TypeA},
		test.Case{Qname: "dup.testns.svc.cluster.local.", Qtype: dns.TypeAAAA},
		test.Case{Qname: "dup.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "_dns._udp.dup.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "_dns-tcp._tcp.dup.testns.svc.cluster.local.", Qtype: dns.TypeA},
		test.Case{Qname: "same.dup.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "same.dup.testns.svc.cluster.local.", Qtype: dns.TypeAAAA},
		test.Case{Qname: "other.dup.testns.svc.cluster.local.", Qtype: dns.TypeA},
		test.Case{Qname: "172-16-4-2.dup.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "2.4.16.172.in-addr.arpa.", Qtype: dns.TypePTR},
		test.Case{Qname: "4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", Qtype: dns.TypePTR},
		test.Case{Qname: "many.testns.svc.cluster.local.", Qtype: dns.TypeA},
		test.Case{Qname: "many.testns.svc.cluster.local.", Qtype: dns.TypeSRV},
		test.Case{Qname: "172-16-5-20.many.testns.svc.cluster.local.", Qtype: dns.TypeA},
	)
	compared, refused := 0, 0
	for _, q := range queries {
		name := q.Qname + " " + dns.TypeToString[q.Qtype]
		want, got := ask(coredns, q), ask(shoal, q)
		if want == nil || got == nil {
			if (want == nil) != (got == nil) {
				t.Errorf("%s: CoreDNS answered %v, Shoal %v", name, want, got)
			}
			refused++ // both left it to the server (REFUSED)
			continue
		}
		if d, ok := intendedDifferences[name]; ok {
			for _, side := range []struct {
				who string
				tc  test.Case
				m   *dns.Msg
			}{{"CoreDNS", d.coredns, want}, {"Shoal", d.shoal, got}} {
				side.tc.Qname, side.tc.Qtype = q.Qname, q.Qtype
				if err := test.SortAndCheck(side.m, cluster.Sorted(side.tc)); err != nil {
					t.Errorf("%s: intended difference: %s's answer is not the one documented: %v\n%v", name, side.who, err, side.m)
				}
			}
			continue
		}
		compared++
		tc := test.Case{Qname: q.Qname, Qtype: q.Qtype, Rcode: want.Rcode, Answer: want.Answer, Ns: want.Ns, Extra: want.Extra}
		if err := test.SortAndCheck(got, cluster.Sorted(tc)); err != nil {
			t.Errorf("%s: %v\nCoreDNS:\n%v\nShoal:\n%v", name, err, want, got)
		}
	}
	t.Logf("%d queries answered alike, %d refused by both, %d intended differences", compared, refused, len(queries)-compared-refused)
}

// ask sends q to h and returns what it wrote (nil: it left the answer to
// the server, as for REFUSED).
func ask(h plugin.Handler, q test.Case) *dns.Msg {
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	h.ServeDNS(context.Background(), rec, q.Msg())
	return rec.Msg
}

// upstream answers every name outside the zone with one address, for both
// plugins (in a server, CoreDNS's upstream would ask the server's plugins).
type upstream struct{}

func (upstream) Lookup(_ context.Context, _ request.Request, name string, typ uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, typ)
	if typ == dns.TypeA {
		m.Answer = []dns.RR{test.A(name + " 300 IN A 203.0.113.10")}
	}
	return m, nil
}

// loadThroughAPI creates f with a client, as kubectl would.
func loadThroughAPI(t *testing.T, cs clientset.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	opts := metav1.CreateOptions{}
	namespaces, services, slices, pods := cluster.FixtureObjects()
	for _, o := range namespaces {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, o.DeepCopy(), opts); err != nil {
			t.Fatalf("namespace %s: %v", o.Name, err)
		}
	}
	for _, o := range services {
		if _, err := cs.CoreV1().Services(o.Namespace).Create(ctx, o.DeepCopy(), opts); err != nil && !bootstrapped(o, err) {
			t.Fatalf("service %s/%s: %v", o.Namespace, o.Name, err)
		}
	}
	for _, o := range slices {
		if _, err := cs.DiscoveryV1().EndpointSlices(o.Namespace).Create(ctx, o.DeepCopy(), opts); err != nil {
			t.Fatalf("endpointslice %s/%s: %v", o.Namespace, o.Name, err)
		}
	}
	for _, o := range pods {
		if _, err := cs.CoreV1().Pods(o.Namespace).Create(ctx, o.DeepCopy(), opts); err != nil {
			t.Fatalf("pod %s/%s: %v", o.Namespace, o.Name, err)
		}
		// The scheduler writes the status of a pod no node fits too: write
		// on the latest version.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p, err := cs.CoreV1().Pods(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			p.Status = o.Status
			_, err = cs.CoreV1().Pods(o.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatalf("pod %s/%s status: %v", o.Namespace, o.Name, err)
		}
	}
}

// bootstrapped reports whether creating o failed only because the
// registry's Bootstrap made it already (kube-system/kube-dns, which the
// fixture holds with the same spec).
func bootstrapped(o *corev1.Service, err error) bool {
	return apierrors.IsAlreadyExists(err) && o.Namespace == "kube-system" && o.Name == "kube-dns"
}
