package cluster

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzServeDNS sends arbitrary packets through the query path: whatever
// unpacks must get an answer that packs again, or be passed on, never a
// panic; an answer packed straight from the index must be the one written
// as a *dns.Msg, byte for byte. Run it with
// `go test -fuzz FuzzServeDNS ./dns/cluster/`.
func FuzzServeDNS(f *testing.F) {
	for _, tc := range conformanceCases {
		if b, err := tc.Msg().Pack(); err == nil {
			f.Add(b)
		}
	}
	for _, q := range []string{"1-2-3-4.testns.pod.cluster.local.", "fd00--1.testns.pod.cluster.local.", "a.b.1-2-3-4.testns.pod.cluster.local.",
		"http.tcp.svc1.testns.svc.cluster.local.", "_._.svc1.testns.svc.cluster.local.", "ext.testns.svc.cluster.local."} {
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeANY} {
			if b, err := (test.Case{Qname: q, Qtype: t}).Msg().Pack(); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0})

	plugins := []*Cluster{
		fixturePlugin(f, "cluster cluster.local in-addr.arpa ip6.arpa {\npods insecure\n}"),
		fixturePlugin(f, "cluster . {\npods verified\nfallthrough\n}"),
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		m := new(dns.Msg)
		if m.Unpack(packet) != nil {
			return // the server drops what does not unpack
		}
		for _, c := range plugins {
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			c.ServeDNS(context.Background(), rec, m)
			if rec.Msg != nil {
				if _, err := rec.Msg.Pack(); err != nil {
					t.Fatalf("answer to %v does not pack: %v\n%v", m.Question, err, rec.Msg)
				}
			}
			for _, tcp := range []bool{false, true} {
				if _, err := sameAnswers(c, m, tcp); err != nil {
					t.Fatalf("%v (tcp %v): %v", m.Question, tcp, err)
				}
			}
		}
	})
}
