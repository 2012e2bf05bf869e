package cluster

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// packWire is a client's connection as the server's writer sees it: it
// keeps the bytes of a reply, packed from a *dns.Msg as miekg/dns packs it,
// or written as bytes.
type packWire struct {
	test.ResponseWriter
	out []byte
	raw bool // written as bytes
}

func (w *packWire) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	w.out = b
	return err
}

func (w *packWire) Write(b []byte) (int, error) {
	w.out, w.raw = bytes.Clone(b), true
	return len(b), nil
}

// viaServer sends r to serve as CoreDNS's server does: a ScrubWriter around
// the connection, wrapped by NextOrFailure for the plugin.
func viaServer(serve plugin.HandlerFunc, r *dns.Msg, tcp bool) *packWire {
	w := &packWire{ResponseWriter: test.ResponseWriter{TCP: tcp}}
	plugin.NextOrFailure("errors", serve, context.Background(), request.NewScrubWriter(r, w), r)
	return w
}

// sameAnswers asks c r both ways, packed from the index and as a *dns.Msg,
// and reports a difference; fast is whether the packed way answered.
func sameAnswers(c *Cluster, r *dns.Msg, tcp bool) (fast bool, err error) {
	slow := viaServer(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		return c.serveMsg(ctx, w, r)
	}, r.Copy(), tcp)
	quick := viaServer(c.ServeDNS, r.Copy(), tcp)
	if !quick.raw {
		return false, nil
	}
	if !bytes.Equal(quick.out, slow.out) {
		a, b := new(dns.Msg), new(dns.Msg)
		a.Unpack(quick.out)
		b.Unpack(slow.out)
		return true, fmt.Errorf("packed from the index:\n%v\n%x\nas a *dns.Msg:\n%v\n%x", a, quick.out, b, slow.out)
	}
	return true, nil
}

// TestWireAnswersAsMsg checks that every answer packed straight from the
// index is, byte for byte, the one the plugin would write as a *dns.Msg
// through the server, for every query of the conformance and differential
// tests, in every way a client may ask.
func TestWireAnswersAsMsg(t *testing.T) {
	queries := wireQueries()
	fast := 0
	for _, corefile := range []string{
		"cluster cluster.local in-addr.arpa ip6.arpa {\npods verified\n}",
		"cluster cluster.local in-addr.arpa {\npods insecure\nttl 30\nendpoint_pod_names\n}",
		"cluster cluster.local example.org in-addr.arpa {\nfallthrough\n}",
		"cluster . {\npods verified\n}",
		"cluster cluster.local {\nnoendpoints\nignore empty_service\n}",
	} {
		c := fixturePlugin(t, corefile)
		for _, q := range queries {
			for _, ask := range askWays {
				r := q.Msg()
				tcp := ask(r)
				ok, err := sameAnswers(c, r, tcp)
				if err != nil {
					t.Errorf("%q: %s %s (%v): %v", corefile, q.Qname, dns.TypeToString[q.Qtype], r.Extra, err)
				}
				if ok {
					fast++
				}
			}
		}
	}
	// Most of these are answered from the index: the test compared something.
	if total := 5 * len(queries) * len(askWays); fast < total/3 {
		t.Errorf("only %d of %d queries answered from the index", fast, total)
	}
	t.Logf("%d of %d queries answered from the index", fast, 5*len(queries)*len(askWays))
}

// askWays are the ways a client asks: UDP without EDNS, with EDNS (small and
// large buffers, DO), recursion desired and checking disabled, TCP.
var askWays = []func(r *dns.Msg) (tcp bool){
	func(r *dns.Msg) bool { return false },
	func(r *dns.Msg) bool { r.SetEdns0(1232, false); return false },
	func(r *dns.Msg) bool { r.SetEdns0(4096, true); r.RecursionDesired = true; return false },
	func(r *dns.Msg) bool { r.SetEdns0(100, false); r.CheckingDisabled = true; return false },
	func(r *dns.Msg) bool { r.Id = 0xbeef; return true },
}

// wireQueries are the conformance queries and more: every type at the
// fixture's names, ports and endpoints.
func wireQueries() []test.Case {
	qs := append([]test.Case(nil), conformanceCases...)
	for _, name := range []string{
		"svc1.testns.svc.cluster.local.", "_http._tcp.svc1.testns.svc.cluster.local.", "http.tcp.svc1.testns.svc.cluster.local.",
		"_dns._udp.svc1.testns.svc.cluster.local.", "172-16-0-1.svc1.testns.svc.cluster.local.", "web-1.svc1.testns.svc.cluster.local.",
		"noeps.testns.svc.cluster.local.", "hdls1.testns.svc.cluster.local.", "_http._tcp.hdls1.testns.svc.cluster.local.",
		"_c-port._udp.hdls1.testns.svc.cluster.local.", "hdls1-0.hdls1.testns.svc.cluster.local.", "hdls1-6.hdls1.testns.svc.cluster.local.",
		"pubnr.testns.svc.cluster.local.", "starting.pubnr.testns.svc.cluster.local.", "ext.testns.svc.cluster.local.",
		"dup.testns.svc.cluster.local.", "same.dup.testns.svc.cluster.local.", "_dns._udp.dup.testns.svc.cluster.local.",
		"many.testns.svc.cluster.local.", "_http._tcp.many.testns.svc.cluster.local.",
		"nope.testns.svc.cluster.local.", "x.svc1.testns.svc.cluster.local.", "_x._tcp.svc1.testns.svc.cluster.local.",
		"svc1.testns.svc.example.org.", "_http._tcp.hdls1.testns.svc.example.org.", "svc1.testns.svc.",
		"100.0.96.10.in-addr.arpa.", "1.0.16.172.in-addr.arpa.", "4.4.16.172.in-addr.arpa.", "9.9.9.9.in-addr.arpa.",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "01.0.96.10.in-addr.arpa.",
		"1-2-3-4.testns.pod.cluster.local.", "cluster.local.", "ns.dns.cluster.local.", "in-addr.arpa.",
	} {
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeTXT, dns.TypeCNAME, dns.TypeMX} {
			qs = append(qs, test.Case{Qname: name, Qtype: t})
		}
	}
	return qs
}

// fixturePlugin is a plugin configured by corefile answering from
// newFixture without etcd.
func fixturePlugin(t testing.TB, corefile string) *Cluster {
	t.Helper()
	cfg, err := parse(caddy.NewTestController("dns", corefile))
	if err != nil {
		t.Fatal(err)
	}
	f := &feeder{b: newBuilder(New(cfg))}
	f.load(newFixture())
	c := New(cfg)
	c.Upstream = fakeUpstream{}
	c.Next = test.NextHandler(dns.RcodeRefused, nil)
	c.publish(f.b.build())
	return c
}
