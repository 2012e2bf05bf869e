package cluster

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/api"
)

// conformanceCases are the answers of `cluster cluster.local in-addr.arpa
// ip6.arpa { pods verified }` on newFixture, per the Kubernetes DNS
// specification 1.1.0 and as CoreDNS's kubernetes plugin gives them (the
// differential test checks that claim against CoreDNS itself).
var conformanceCases = []test.Case{
	// Schema version.
	{Qname: "dns-version.cluster.local.", Qtype: dns.TypeTXT,
		Answer: lines(`dns-version.cluster.local. 28800 IN TXT "1.1.0"`)},
	{Qname: "dns-version.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},

	// ClusterIP service: A, no AAAA (IPv4 only), SRV per port with the address in additional.
	{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")},
	{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeTXT, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeMX, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeCNAME, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypePTR, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines(
			"svc1.testns.svc.cluster.local. 5 IN SRV 0 33 80 svc1.testns.svc.cluster.local.",
			"svc1.testns.svc.cluster.local. 5 IN SRV 0 33 443 svc1.testns.svc.cluster.local.",
			"svc1.testns.svc.cluster.local. 5 IN SRV 0 33 53 svc1.testns.svc.cluster.local."),
		Extra: lines("svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")},
	{Qname: "_http._tcp.svc1.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines("_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local."),
		Extra:  lines("svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")},
	{Qname: "_dns._udp.svc1.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines("_dns._udp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 53 svc1.testns.svc.cluster.local."),
		Extra:  lines("svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")},
	{Qname: "_https._tcp.svc1.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("_https._tcp.svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")},
	{Qname: "_http._udp.svc1.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "http.tcp.svc1.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines("http.tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local."),
		Extra:  lines("svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")},
	{Qname: "noeps.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines("noeps.testns.svc.cluster.local. 5 IN SRV 0 100 8080 noeps.testns.svc.cluster.local."),
		Extra:  lines("noeps.testns.svc.cluster.local. 5 IN A 10.96.0.101")},
	{Qname: "kubernetes.default.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1")},
	// Endpoints of a ClusterIP service have names too; not-ready ones do not.
	{Qname: "172-16-0-1.svc1.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("172-16-0-1.svc1.testns.svc.cluster.local. 5 IN A 172.16.0.1")},
	{Qname: "172-16-0-2.svc1.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines("172-16-0-2.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 8080 172-16-0-2.svc1.testns.svc.cluster.local."),
		Extra:  lines("172-16-0-2.svc1.testns.svc.cluster.local. 5 IN A 172.16.0.2")},
	{Qname: "172-16-0-9.svc1.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},

	// Case: matched without regard to case; the answer spells the name as asked.
	{Qname: "SVC1.TestNS.svc.Cluster.Local.", Qtype: dns.TypeA,
		Answer: lines("SVC1.TestNS.svc.Cluster.Local. 5 IN A 10.96.0.100")},
	{Qname: "_HTTP._tcp.Svc1.testns.svc.Cluster.Local.", Qtype: dns.TypeSRV,
		Answer: lines("_HTTP._tcp.Svc1.testns.svc.Cluster.Local. 5 IN SRV 0 100 80 svc1.testns.svc.Cluster.Local."),
		Extra:  lines("svc1.testns.svc.Cluster.Local. 5 IN A 10.96.0.100")},
	{Qname: "Svc1.TestNS.svc.Cluster.Local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa("Cluster.Local.")}},

	// Headless service: the ready endpoints, by address family.
	{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.1", "hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.2")},
	{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeAAAA,
		Answer: lines("hdls1.testns.svc.cluster.local. 5 IN AAAA fd00::1")},
	{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines(
			"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 hdls1-0.hdls1.testns.svc.cluster.local.",
			"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 1234 hdls1-0.hdls1.testns.svc.cluster.local.",
			"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 172-16-1-2.hdls1.testns.svc.cluster.local.",
			"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 1234 172-16-1-2.hdls1.testns.svc.cluster.local.",
			"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 hdls1-6.hdls1.testns.svc.cluster.local.",
			"hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 1234 hdls1-6.hdls1.testns.svc.cluster.local."),
		Extra: lines(
			"hdls1-0.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.1",
			"172-16-1-2.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.2",
			"hdls1-6.hdls1.testns.svc.cluster.local. 5 IN AAAA fd00::1")},
	{Qname: "_http._tcp.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines(
			"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 33 80 hdls1-0.hdls1.testns.svc.cluster.local.",
			"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 33 80 172-16-1-2.hdls1.testns.svc.cluster.local.",
			"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 33 80 hdls1-6.hdls1.testns.svc.cluster.local."),
		Extra: lines(
			"hdls1-0.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.1",
			"172-16-1-2.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.2",
			"hdls1-6.hdls1.testns.svc.cluster.local. 5 IN AAAA fd00::1")},
	{Qname: "_c-port._udp.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("_c-port._udp.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.1", "_c-port._udp.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.2")},
	{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeTXT, Ns: []dns.RR{soa("cluster.local.")}},
	// Endpoint names: the hostname, else the address with dashes.
	{Qname: "hdls1-0.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("hdls1-0.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.1")},
	{Qname: "hdls1-0.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeSRV,
		Answer: lines(
			"hdls1-0.hdls1.testns.svc.cluster.local. 5 IN SRV 0 50 80 hdls1-0.hdls1.testns.svc.cluster.local.",
			"hdls1-0.hdls1.testns.svc.cluster.local. 5 IN SRV 0 50 1234 hdls1-0.hdls1.testns.svc.cluster.local."),
		Extra: lines("hdls1-0.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.1")},
	{Qname: "172-16-1-2.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("172-16-1-2.hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.2")},
	{Qname: "hdls1-6.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeAAAA,
		Answer: lines("hdls1-6.hdls1.testns.svc.cluster.local. 5 IN AAAA fd00::1")},
	{Qname: "hdls1-6.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "hdls1-2.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "172-16-1-1.hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	// Not-ready addresses published by the service (the slice marks them ready); no ports, so no SRV.
	{Qname: "pubnr.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("pubnr.testns.svc.cluster.local. 5 IN A 172.16.3.1")},
	{Qname: "starting.pubnr.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("starting.pubnr.testns.svc.cluster.local. 5 IN A 172.16.3.1")},
	{Qname: "pubnr.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa("cluster.local.")}},
	// Headless without ready endpoints does not exist.
	{Qname: "hdlsempty.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "hdlsempty.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},

	// ExternalName: a CNAME, chased for addresses (upstream outside the zone, the index inside).
	{Qname: "ext.testns.svc.cluster.local.", Qtype: dns.TypeCNAME,
		Answer: lines("ext.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.")},
	{Qname: "ext.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("ext.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.", "ext.interwebs.test. 300 IN A 203.0.113.10")},
	{Qname: "ext.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "extin.testns.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("extin.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.", "svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")},
	{Qname: "extin.testns.svc.cluster.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa("cluster.local.")}},

	// Names that do not exist, and names that exist without records.
	{Qname: "nosuch.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "svc1.nosuchns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "nosuchns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "foo.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "a.b.c.svc1.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "testns.svc.cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "testns.svc.cluster.local.", Qtype: dns.TypeTXT, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "svc.cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "pod.cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},

	// The zone: SOA, NS (ns.dns.<zone> at the kube-dns address).
	{Qname: "cluster.local.", Qtype: dns.TypeSOA, Answer: []dns.RR{soa("cluster.local.")}},
	{Qname: "cluster.local.", Qtype: dns.TypeNS,
		Answer: lines("cluster.local. 5 IN NS ns.dns.cluster.local."),
		Extra:  lines("ns.dns.cluster.local. 5 IN A 10.96.0.10")},
	{Qname: "ns.dns.cluster.local.", Qtype: dns.TypeA, Answer: lines("ns.dns.cluster.local. 5 IN A 10.96.0.10")},
	{Qname: "cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "cluster.local.", Qtype: dns.TypeTXT, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "nosuch.testns.svc.cluster.local.", Qtype: dns.TypeSOA, Ns: []dns.RR{soa("cluster.local.")}},

	// Reverse: cluster IPs, then endpoint addresses.
	{Qname: "100.0.96.10.in-addr.arpa.", Qtype: dns.TypePTR,
		Answer: lines("100.0.96.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.")},
	{Qname: "10.0.96.10.in-addr.arpa.", Qtype: dns.TypePTR,
		Answer: lines("10.0.96.10.in-addr.arpa. 5 IN PTR kube-dns.kube-system.svc.cluster.local.")},
	{Qname: "1.1.16.172.in-addr.arpa.", Qtype: dns.TypePTR,
		Answer: lines("1.1.16.172.in-addr.arpa. 5 IN PTR hdls1-0.hdls1.testns.svc.cluster.local.")},
	{Qname: "2.1.16.172.in-addr.arpa.", Qtype: dns.TypePTR,
		Answer: lines("2.1.16.172.in-addr.arpa. 5 IN PTR 172-16-1-2.hdls1.testns.svc.cluster.local.")},
	{Qname: "1.0.16.172.in-addr.arpa.", Qtype: dns.TypePTR,
		Answer: lines("1.0.16.172.in-addr.arpa. 5 IN PTR 172-16-0-1.svc1.testns.svc.cluster.local.")},
	{Qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", Qtype: dns.TypePTR,
		Answer: lines("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR hdls1-6.hdls1.testns.svc.cluster.local.")},
	{Qname: "3.1.16.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("in-addr.arpa.")}},
	{Qname: "9.9.9.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("in-addr.arpa.")}},
	{Qname: "100.0.96.10.in-addr.arpa.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("in-addr.arpa.")}},
	{Qname: "in-addr.arpa.", Qtype: dns.TypeSOA, Answer: []dns.RR{soa("in-addr.arpa.")}},
	{Qname: "svc1.testns.svc.in-addr.arpa.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("in-addr.arpa.")}},

	// Pods (verified): only the address of a pod in that namespace.
	{Qname: "172-16-2-5.testns.pod.cluster.local.", Qtype: dns.TypeA,
		Answer: lines("172-16-2-5.testns.pod.cluster.local. 5 IN A 172.16.2.5")},
	{Qname: "172-16-2-5.testns.pod.cluster.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "172-16-2-6.testns.pod.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "172-16-2-5.default.pod.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}},
	{Qname: "testns.pod.cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},
}

func TestConformance(t *testing.T) {
	e := newEnv(t)
	e.load(t, newFixture())
	c := e.plugin(t, `cluster cluster.local in-addr.arpa ip6.arpa {
pods verified
}`)
	if !c.Ready() {
		t.Fatal("not ready after sync")
	}
	check(t, c, conformanceCases)
	// Zone transfers are refused; other classes are not answered.
	check(t, c, []test.Case{{Qname: "cluster.local.", Qtype: dns.TypeAXFR, Rcode: dns.RcodeRefused},
		{Qname: "cluster.local.", Qtype: dns.TypeIXFR, Rcode: dns.RcodeRefused}})

	t.Run("options", func(t *testing.T) {
		nx := func(name string, zone string) test.Case {
			return test.Case{Qname: name, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa(zone)}}
		}
		svc1 := test.Case{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeA,
			Answer: lines("svc1.testns.svc.cluster.local. 5 IN A 10.96.0.100")}
		for _, tt := range []struct {
			corefile string
			cases    []test.Case
		}{
			{`cluster`, []test.Case{svc1,
				nx("172-16-2-5.testns.pod.cluster.local.", "cluster.local."),
				nx("testns.pod.cluster.local.", "cluster.local."),
				{Qname: "pod.cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},
			}},
			{`cluster cluster.local {
pods insecure
}`, []test.Case{
				{Qname: "1-2-3-4.testns.pod.cluster.local.", Qtype: dns.TypeA, Answer: lines("1-2-3-4.testns.pod.cluster.local. 5 IN A 1.2.3.4")},
				{Qname: "fd00--1.testns.pod.cluster.local.", Qtype: dns.TypeAAAA, Answer: lines("fd00--1.testns.pod.cluster.local. 5 IN AAAA fd00::1")},
				nx("1-2-3-4.nosuchns.pod.cluster.local.", "cluster.local."),
				nx("not-an-ip.testns.pod.cluster.local.", "cluster.local."),
			}},
			{`cluster {
ignore empty_service
}`, []test.Case{svc1,
				nx("noeps.testns.svc.cluster.local.", "cluster.local."),
				nx("hdlsempty.testns.svc.cluster.local.", "cluster.local."),
			}},
			{`cluster cluster.local in-addr.arpa {
namespaces testns
}`, []test.Case{svc1,
				nx("kubernetes.default.svc.cluster.local.", "cluster.local."),
				nx("default.svc.cluster.local.", "cluster.local."),
				{Qname: "1.0.96.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("in-addr.arpa.")}},
				{Qname: "100.0.96.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: lines("100.0.96.10.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.")},
			}},
			{`cluster cluster.local in-addr.arpa {
noendpoints
}`, []test.Case{svc1,
				nx("hdls1.testns.svc.cluster.local.", "cluster.local."),
				nx("172-16-0-1.svc1.testns.svc.cluster.local.", "cluster.local."),
				{Qname: "1.1.16.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("in-addr.arpa.")}},
			}},
			{`cluster cluster.local in-addr.arpa {
endpoint_pod_names
}`, []test.Case{
				{Qname: "web-1.svc1.testns.svc.cluster.local.", Qtype: dns.TypeA, Answer: lines("web-1.svc1.testns.svc.cluster.local. 5 IN A 172.16.0.2")},
				{Qname: "2.0.16.172.in-addr.arpa.", Qtype: dns.TypePTR, Answer: lines("2.0.16.172.in-addr.arpa. 5 IN PTR web-1.svc1.testns.svc.cluster.local.")},
				nx("172-16-0-2.svc1.testns.svc.cluster.local.", "cluster.local."),
			}},
			{`cluster {
ttl 30
}`, []test.Case{
				{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeA, Answer: lines("svc1.testns.svc.cluster.local. 30 IN A 10.96.0.100")},
				{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeAAAA,
					Ns: lines("cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 30")},
			}},
			{`cluster {
fallthrough
}`, []test.Case{svc1,
				// Names that do not exist go to the next plugin, which answers NOTIMP here.
				{Qname: "nosuch.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNotImplemented},
				{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa("cluster.local.")}},
			}},
			{`cluster cluster.local {
fallthrough in-addr.arpa
}`, []test.Case{
				nx("nosuch.testns.svc.cluster.local.", "cluster.local."),
			}},
			{`cluster example.org`, []test.Case{
				{Qname: "svc1.testns.svc.example.org.", Qtype: dns.TypeA, Answer: lines("svc1.testns.svc.example.org. 5 IN A 10.96.0.100")},
				// Outside the zones: the next plugin.
				{Qname: "svc1.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNotImplemented},
			}},
		} {
			t.Run(tt.corefile, func(t *testing.T) {
				c := e.plugin(t, tt.corefile)
				c.Next = test.NextHandler(dns.RcodeNotImplemented, nil)
				check(t, c, tt.cases)
			})
		}
	})
}

// TestAnswersFollowTheRegistry changes the registry under a running plugin.
func TestAnswersFollowTheRegistry(t *testing.T) {
	e := newEnv(t)
	e.load(t, newFixture())
	c := e.plugin(t, `cluster cluster.local in-addr.arpa`)
	nx := func(name string) test.Case {
		return test.Case{Qname: name, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("cluster.local.")}}
	}
	e.delete(t, api.Services, "testns", "svc1")
	e.wait(t, c)
	check(t, c, []test.Case{nx("svc1.testns.svc.cluster.local."), nx("172-16-0-1.svc1.testns.svc.cluster.local."),
		// The endpoint keeps its PTR: CoreDNS names addresses after the slice's label.
		{Qname: "1.0.16.172.in-addr.arpa.", Qtype: dns.TypePTR, Answer: lines("1.0.16.172.in-addr.arpa. 5 IN PTR 172-16-0-1.svc1.testns.svc.cluster.local.")},
		{Qname: "100.0.96.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("in-addr.arpa.")}},
		// The ExternalName pointing at it resolves no more.
		{Qname: "extin.testns.svc.cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},
	})
	e.delete(t, api.EndpointSlices, "testns", "hdls1-a")
	e.wait(t, c)
	check(t, c, []test.Case{nx("hdls1-0.hdls1.testns.svc.cluster.local."),
		{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa("cluster.local.")}},
		{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeAAAA, Answer: lines("hdls1.testns.svc.cluster.local. 5 IN AAAA fd00::1")},
	})
	e.delete(t, api.EndpointSlices, "testns", "hdls1-b")
	e.wait(t, c)
	check(t, c, []test.Case{nx("hdls1.testns.svc.cluster.local.")})
}
