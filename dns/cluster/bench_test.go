package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
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

// BenchmarkServeDNS answers a mix of A, SRV, PTR and NXDOMAIN queries for
// 1000 services of 10 endpoints from the index.
func BenchmarkServeDNS(b *testing.B) {
	f, _ := benchFeeder(b, 1000, 10)
	c := New(f.b.cfg)
	c.publish(f.b.build())
	var msgs []*dns.Msg
	for i := range 100 {
		msgs = append(msgs,
			test.Case{Qname: fmt.Sprintf("svc-%d.bench.svc.cluster.local.", i*10), Qtype: dns.TypeA}.Msg(),
			test.Case{Qname: fmt.Sprintf("svc-%d.bench.svc.cluster.local.", i*10+9), Qtype: dns.TypeA}.Msg(),
			test.Case{Qname: fmt.Sprintf("_http._tcp.svc-%d.bench.svc.cluster.local.", i*10+1), Qtype: dns.TypeSRV}.Msg(),
			test.Case{Qname: fmt.Sprintf("%d.%d.96.10.in-addr.arpa.", 1+i, 1), Qtype: dns.TypePTR}.Msg(),
			test.Case{Qname: fmt.Sprintf("nosuch-%d.bench.svc.cluster.local.", i), Qtype: dns.TypeA}.Msg(),
		)
	}
	w := &discardWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.ServeDNS(ctx, w, msgs[i%len(msgs)])
	}
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

type discardWriter struct{ test.ResponseWriter }

func (*discardWriter) WriteMsg(*dns.Msg) error { return nil }

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
