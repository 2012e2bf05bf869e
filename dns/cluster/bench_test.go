package cluster

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	_ "github.com/coredns/coredns/plugin/errors" // BenchmarkServerPath's errors plugin
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// benchObjects are n services (every tenth headless), each with eps ready
// endpoints in one slice, in namespace bench.
func benchObjects(n, eps int) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var slices []*discoveryv1.EndpointSlice
	name, proto, port := "http", corev1.ProtocolTCP, int32(8080)
	for i := range n {
		ip := fmt.Sprintf("10.96.%d.%d", 1+i/250, 1+i%250)
		if i%10 == 9 {
			ip = corev1.ClusterIPNone
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i)},
			Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}}}
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: svc.Name + "-x",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}}}
		for j := range eps {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 100+i/2500, (i/10)%250, 10*(i%10)+j)}})
		}
		svcs, slices = append(svcs, svc), append(slices, s)
	}
	return svcs, slices
}

func benchFeeder(b *testing.B, n, eps int) (*feeder, []*discoveryv1.EndpointSlice) {
	f := &feeder{b: newBuilder(New(Config{Zones: []string{"cluster.local.", "in-addr.arpa."}, TTL: 5, Pods: PodsDisabled}))}
	f.send(watch.Added, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}})
	svcs, slices := benchObjects(n, eps)
	for _, s := range svcs {
		f.send(watch.Added, s)
	}
	for _, s := range slices {
		f.send(watch.Added, s)
	}
	return f, slices
}

// benchKinds are the kinds of the bench's query mix over benchObjects(1000,
// _), by name: A of a ClusterIP and of a headless service, SRV of a named
// port, PTR of a cluster IP, NXDOMAIN.
var benchKinds = []struct {
	kind string
	q    func(i int) test.Case
}{
	{"A", func(i int) test.Case {
		return test.Case{Qname: fmt.Sprintf("svc-%d.bench.svc.cluster.local.", i*10), Qtype: dns.TypeA}
	}},
	{"A-headless", func(i int) test.Case {
		return test.Case{Qname: fmt.Sprintf("svc-%d.bench.svc.cluster.local.", i*10+9), Qtype: dns.TypeA}
	}},
	{"SRV", func(i int) test.Case {
		return test.Case{Qname: fmt.Sprintf("_http._tcp.svc-%d.bench.svc.cluster.local.", i*10+1), Qtype: dns.TypeSRV}
	}},
	{"PTR", func(i int) test.Case {
		return test.Case{Qname: fmt.Sprintf("%d.%d.96.10.in-addr.arpa.", 1+i, 1), Qtype: dns.TypePTR}
	}},
	{"NXDOMAIN", func(i int) test.Case {
		return test.Case{Qname: fmt.Sprintf("nosuch-%d.bench.svc.cluster.local.", i), Qtype: dns.TypeA}
	}},
}

// benchQueries are 100 queries of each kind (all kinds: "").
func benchQueries(kind string) []*dns.Msg {
	var msgs []*dns.Msg
	for i := range 100 {
		for _, k := range benchKinds {
			if kind == "" || kind == k.kind {
				msgs = append(msgs, k.q(i).Msg())
			}
		}
	}
	return msgs
}

func benchPlugin(b *testing.B) *Cluster {
	f, _ := benchFeeder(b, 1000, 10)
	c := New(f.b.cfg)
	c.publish(f.b.build())
	return c
}

// BenchmarkServeDNS answers the bench's query mix, and each kind of it,
// from the index of 1000 services of 10 endpoints, with the writer CoreDNS's
// server hands the plugin (the reply packed as the server packs it).
func BenchmarkServeDNS(b *testing.B) {
	c := benchPlugin(b)
	for _, kind := range append([]string{"mix"}, kindNames()...) {
		b.Run(kind, func(b *testing.B) {
			msgs := benchQueries(strings.TrimPrefix(kind, "mix"))
			w := &packWriter{}
			ws := make([]dns.ResponseWriter, len(msgs))
			for i, m := range msgs {
				ws[i] = request.NewScrubWriter(m, w)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c.ServeDNS(ctx, ws[i%len(ws)], msgs[i%len(msgs)])
			}
		})
	}
}

// BenchmarkServeMsg is BenchmarkServeDNS's mix answered the general way, as
// a *dns.Msg.
func BenchmarkServeMsg(b *testing.B) {
	c := benchPlugin(b)
	msgs := benchQueries("")
	w := &packWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		c.serveMsg(ctx, request.NewScrubWriter(m, w), m)
	}
}

func kindNames() []string {
	var out []string
	for _, k := range benchKinds {
		out = append(out, k.kind)
	}
	return out
}

// BenchmarkServerPath is a query's whole way through CoreDNS's server
// without the socket: the request unpacked from its wire bytes (as miekg/dns
// does), dnsserver.Server.ServeDNS (zone match, ScrubWriter), the errors
// plugin, the cluster plugin, the reply packed (as miekg/dns's writer does).
func BenchmarkServerPath(b *testing.B) {
	c := benchPlugin(b)
	ctl := caddy.NewTestController("dns", "errors")
	setupErrors, err := caddy.DirectiveAction("dns", "errors")
	if err != nil {
		b.Fatal(err)
	}
	if err := setupErrors(ctl); err != nil {
		b.Fatal(err)
	}
	cfg := dnsserver.GetConfig(ctl)
	cfg.Zone = "."
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler { c.Next = next; return c })
	srv, err := dnsserver.NewServer("dns://127.0.0.1:53", []*dnsserver.Config{cfg})
	if err != nil {
		b.Fatal(err)
	}
	var wire [][]byte
	for _, m := range benchQueries("") {
		p, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		wire = append(wire, p)
	}
	w := &packWriter{}
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, srv)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := new(dns.Msg)
		if err := r.Unpack(wire[i%len(wire)]); err != nil {
			b.Fatal(err)
		}
		srv.ServeDNS(ctx, w, r)
	}
	b.ReportMetric(float64(w.bytes)/float64(b.N), "reply-B/op")
}

// BenchmarkRebuild changes one slice of 1000 services × 10 endpoints and
// builds the next index, as the writer does for each change.
func BenchmarkRebuild(b *testing.B) {
	f, slices := benchFeeder(b, 1000, 10)
	f.b.build()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := slices[i%len(slices)].DeepCopy()
		s.Endpoints = s.Endpoints[:len(s.Endpoints)-1-i%2]
		f.send(watch.Modified, s)
		f.b.build()
	}
}

// BenchmarkFullBuild builds the first index of 1000 services × 10 endpoints.
func BenchmarkFullBuild(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		f, _ := benchFeeder(b, 1000, 10)
		b.StartTimer()
		f.b.build()
	}
}

// packWriter packs what is written to it as miekg/dns's UDP writer does
// before its send, and counts the bytes.
type packWriter struct {
	test.ResponseWriter
	bytes int
}

// RemoteAddr is a client's UDP address, made once (miekg/dns's writer
// keeps the one it read).
func (w *packWriter) RemoteAddr() net.Addr { return benchClient }

var benchClient = &net.UDPAddr{IP: net.IPv4(10, 240, 0, 1), Port: 40212}

func (w *packWriter) WriteMsg(m *dns.Msg) error {
	p, err := m.Pack()
	w.bytes += len(p)
	return err
}

func (w *packWriter) Write(p []byte) (int, error) {
	w.bytes += len(p)
	return len(p), nil
}

// BenchmarkChangeToAnswer measures, on an embedded etcd holding 1000
// services of 10 endpoints, the time from an EndpointSlice write being sent
// to the answers reflecting it: the etcd commit, the watch, the cache and
// the index round (one op is one write and its wait). p50 and p99 are
// reported.
func BenchmarkChangeToAnswer(b *testing.B) {
	e := newEnv(b)
	e.create(b, api.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}})
	svcs, eps := benchObjects(1000, 10)
	for i := range svcs {
		e.create(b, api.Services, svcs[i])
		e.create(b, api.EndpointSlices, eps[i])
	}
	c := e.plugin(b, "cluster")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := eps[i%len(eps)]
		n := len(s.Endpoints) - 1 - i%2
		start := time.Now()
		res, err := e.reg.Update(b.Context(), api.EndpointSlices, s.Namespace, s.Name, "", func(cur store.Object) (store.Object, error) {
			cur.(*discoveryv1.EndpointSlice).Endpoints = s.Endpoints[:n]
			return cur, nil
		}, registry.WriteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rev, _ := store.ParseResourceVersion(res.Object.GetResourceVersion())
		if err := c.WaitForRevision(b.Context(), api.EndpointSlices.Resource, rev); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e6, "p99-ms")
}
