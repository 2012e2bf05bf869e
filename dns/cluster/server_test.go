package cluster

import (
	"net"
	"testing"
	"time"

	_ "github.com/coredns/coredns/plugin/autopath"
	_ "github.com/coredns/coredns/plugin/hosts"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// askServer queries the server at addr until tc's answer comes or 10s pass
// (the plugin answers SERVFAIL until it has read the registry).
func askServer(t *testing.T, addr string, tc test.Case) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(tc.Msg(), addr)
		if err == nil {
			err = test.SortAndCheck(r, sorted(tc))
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %v", tc.Qname, dns.TypeToString[tc.Qtype], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndpointServer runs the plugin in CoreDNS with its own etcd client
// (shoal dns): an ExternalName is followed through the server's plugins.
func TestEndpointServer(t *testing.T) {
	e := newEnv(t)
	e.load(t, newFixture())
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	StartCoreDNS(t, ".:"+port+` {
    bind 127.0.0.1
    hosts {
        203.0.113.7 ext.interwebs.test
        fallthrough
    }
    cluster {
        endpoint `+e.url+`
    }
}
`)
	askServer(t, addr, test.Case{Qname: "ext.testns.svc.cluster.local.", Qtype: dns.TypeA, Answer: lines(
		"ext.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.",
		"ext.interwebs.test. 3600 IN A 203.0.113.7")})
	askServer(t, addr, test.Case{Qname: "hdls1.testns.svc.cluster.local.", Qtype: dns.TypeA, Answer: lines(
		"hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.1", "hdls1.testns.svc.cluster.local. 5 IN A 172.16.1.2")})
	// Outside the zone: the next plugin (none here, so SERVFAIL from the server).
	askServer(t, addr, test.Case{Qname: "example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
}

// TestAutoPathServer runs `autopath @cluster` in CoreDNS: a pod's
// `kubernetes.default` (first tried as kubernetes.default.<its ns>.svc...)
// costs one query.
func TestAutoPathServer(t *testing.T) {
	e := newEnv(t)
	fx := newFixture()
	fx.pods[0].Status.PodIP, fx.pods[0].Status.PodIPs = "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}}
	e.load(t, fx)
	UseCaches(e.caches)
	t.Cleanup(func() { UseCaches(nil) })
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	StartCoreDNS(t, "cluster.local:"+port+" {\n bind 127.0.0.1\n autopath @cluster\n cluster {\n  pods verified\n }\n}\n")
	q := test.Case{Qname: "kubernetes.default.testns.svc.cluster.local.", Qtype: dns.TypeA, Answer: lines(
		"kubernetes.default.testns.svc.cluster.local. 5 IN CNAME kubernetes.default.svc.cluster.local.",
		"kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1")}
	askServer(t, addr, q)
}
