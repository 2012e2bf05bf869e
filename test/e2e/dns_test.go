package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/dns/resolver/resolvertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// dnsYAML is what a user applies: a ClusterIP service, a headless service
// whose EndpointSlice (the user's: the service has no selector) names two
// pods with hostnames, and an ExternalName service.
const dnsYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: dnse2e
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: dnse2e
spec:
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: dnse2e
spec:
  clusterIP: None
  ports:
  - name: pg
    port: 5432
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  namespace: dnse2e
  labels:
    kubernetes.io/service-name: db
addressType: IPv4
ports:
- name: pg
  port: 5432
  protocol: TCP
endpoints:
- addresses: ["10.244.0.10"]
  hostname: db-0
  conditions: {ready: true}
- addresses: ["10.244.0.11"]
  hostname: db-1
  conditions: {ready: true}
---
apiVersion: v1
kind: Service
metadata:
  name: ext
  namespace: dnse2e
spec:
  type: ExternalName
  externalName: db.example.com
`

// bigYAML is a headless service with n ready endpoints, in slices of 100.
func bigYAML(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Service\nmetadata:\n  name: big\n  namespace: dnse2e\nspec:\n  clusterIP: None\n  ports:\n  - name: http\n    port: 80\n")
	for s := 0; s*100 < n; s++ {
		fmt.Fprintf(&b, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-%d\n  namespace: dnse2e\n  labels:\n    kubernetes.io/service-name: big\naddressType: IPv4\nports:\n- name: http\n  port: 80\n  protocol: TCP\nendpoints:\n", s)
		for i := s * 100; i < min(n, (s+1)*100); i++ {
			fmt.Fprintf(&b, "- addresses: [\"10.244.%d.%d\"]\n  conditions: {ready: true}\n", 10+i/250, 1+i%250)
		}
	}
	return b.String()
}

// dnsCase is one query and what its answer must hold: the rcode and, as
// zone-file strings with the TTL left out, records of the answer section.
type dnsCase struct {
	name   string
	qtype  uint16
	rcode  int
	answer []string
}

// check asks c over network and reports what is wrong with the answer.
func (c dnsCase) check(network, addr string) error {
	r, err := resolvertest.Ask(network, addr, resolvertest.Query(c.name, c.qtype))
	if err != nil {
		return err
	}
	if r.Rcode != c.rcode {
		return fmt.Errorf("%s %s over %s: rcode %s, want %s", c.name, dns.TypeToString[c.qtype], network, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
	}
	var got []string
	for _, rr := range r.Answer {
		rr.Header().Ttl = 0
		got = append(got, strings.Join(strings.Fields(rr.String()), " "))
	}
	for _, w := range c.answer {
		rr, err := dns.NewRR(w)
		if err != nil {
			return fmt.Errorf("bad want %q: %v", w, err)
		}
		rr.Header().Ttl = 0
		if want := strings.Join(strings.Fields(rr.String()), " "); !slices.Contains(got, want) {
			return fmt.Errorf("%s %s over %s: answer %q lacks %q", c.name, dns.TypeToString[c.qtype], network, got, want)
		}
	}
	if len(c.answer) == 0 && c.rcode == dns.RcodeNameError && len(r.Ns) == 0 {
		return fmt.Errorf("%s: NXDOMAIN without the SOA in authority", c.name)
	}
	return nil
}

// TestDNSSeesKubectlChanges applies services with kubectl and asks Shoal's
// resolver about them over UDP and TCP, then deletes one.
func TestDNSSeesKubectlChanges(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	k.ok(t, "apply", "-f", k.write(t, "dns.yaml", dnsYAML))
	web := getService(t, s.Clientset(t), "dnse2e", "web").Spec.ClusterIP
	rev, err := dns.ReverseAddr(web)
	if err != nil {
		t.Fatalf("web's cluster IP %q: %v", web, err)
	}

	cases := []dnsCase{
		{"kubernetes.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"kubernetes.default.svc.cluster.local. A 10.96.0.1"}},
		{"web.dnse2e.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"web.dnse2e.svc.cluster.local. A " + web}},
		{"WEB.dnse2e.svc.Cluster.Local.", dns.TypeA, dns.RcodeSuccess, []string{"WEB.dnse2e.svc.Cluster.Local. A " + web}},
		{"_http._tcp.web.dnse2e.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"_http._tcp.web.dnse2e.svc.cluster.local. SRV 0 100 80 web.dnse2e.svc.cluster.local."}},
		{rev, dns.TypePTR, dns.RcodeSuccess, []string{rev + " PTR web.dnse2e.svc.cluster.local."}},
		{"db.dnse2e.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"db.dnse2e.svc.cluster.local. A 10.244.0.10", "db.dnse2e.svc.cluster.local. A 10.244.0.11"}},
		{"db-1.db.dnse2e.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"db-1.db.dnse2e.svc.cluster.local. A 10.244.0.11"}},
		{"_pg._tcp.db.dnse2e.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"_pg._tcp.db.dnse2e.svc.cluster.local. SRV 0 50 5432 db-0.db.dnse2e.svc.cluster.local."}},
		{"ext.dnse2e.svc.cluster.local.", dns.TypeCNAME, dns.RcodeSuccess, []string{"ext.dnse2e.svc.cluster.local. CNAME db.example.com."}},
		{"nope.dnse2e.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range cases {
			testenv.Eventually(t, 10*time.Second, "dns answer", func() error { return c.check(network, s.DNSAddr) })
		}
	}

	k.ok(t, "delete", "svc", "web", "-n", "dnse2e")
	// kubectl delete returns once the service is gone from the API; the
	// answer follows within a second.
	gone := dnsCase{"web.dnse2e.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil}
	testenv.Eventually(t, time.Second, "NXDOMAIN after delete", func() error { return gone.check("udp", s.DNSAddr) })
	for _, network := range []string{"udp", "tcp"} {
		if err := gone.check(network, s.DNSAddr); err != nil {
			t.Error(err)
		}
	}
}

// TestDNSLargeHeadlessTruncatesOverUDP asks for a headless service of 500
// endpoints: over UDP the answer does not fit and says so (TC); over TCP it
// comes whole.
func TestDNSLargeHeadlessTruncatesOverUDP(t *testing.T) {
	t.Parallel()
	const n = 500
	s, k := startKubectl(t)
	k.ok(t, "create", "namespace", "dnse2e")
	k.ok(t, "apply", "-f", k.write(t, "big.yaml", bigYAML(n)))
	name := "big.dnse2e.svc.cluster.local."
	testenv.Eventually(t, 10*time.Second, "all endpoints in DNS", func() error {
		r, err := resolvertest.Ask("tcp", s.DNSAddr, resolvertest.Query(name, dns.TypeA))
		if err != nil {
			return err
		}
		if len(r.Answer) != n || r.Truncated {
			return fmt.Errorf("over TCP: %d records (TC %v), want %d", len(r.Answer), r.Truncated, n)
		}
		return nil
	})
	for _, edns := range []uint16{0, 1232, 4096} {
		m := resolvertest.Query(name, dns.TypeA)
		if edns > 0 {
			m.SetEdns0(edns, false)
		}
		r := resolvertest.Exchange(t, "udp", s.DNSAddr, m)
		limit := max(int(edns), dns.MinMsgSize)
		r.Compress = true // as it came on the wire
		if packed, _ := r.Pack(); !r.Truncated || len(packed) > limit || r.Rcode != dns.RcodeSuccess {
			t.Errorf("UDP, EDNS0 %d: TC %v, %d bytes, rcode %s; want TC in at most %d bytes", edns, r.Truncated, len(packed), dns.RcodeToString[r.Rcode], limit)
		}
	}
}

// TestDNSCommands runs the real binary: `shoal up` serves DNS on --dns-addr
// and says so in its banner; `shoal dns --conf` serves the same names from
// the same etcd, and exits cleanly on SIGTERM.
func TestDNSCommands(t *testing.T) {
	t.Parallel()
	bin := buildShoal(t, t.TempDir())
	addrs := freeAddrs(t)
	up := startShoal(t, bin, t.TempDir(), addrs)
	up.waitReady(t)
	// The API server answers /readyz before DNS starts; the banner waits for both.
	testenv.Eventually(t, readyTimeout, "banner with the DNS address", func() error {
		if out := up.stdout.String(); !strings.Contains(out, "DNS:         "+addrs.DNS) {
			return fmt.Errorf("banner does not give the DNS address %s:\n%s", addrs.DNS, out)
		}
		return nil
	})
	cs := up.clientset(t)
	svc := service("web", "")
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	created, err := cs.CoreV1().Services(testNS).Create(t.Context(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := dnsCase{"web." + testNS + ".svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"web." + testNS + ".svc.cluster.local. A " + created.Spec.ClusterIP}}
	testenv.Eventually(t, 10*time.Second, "shoal up's DNS", func() error { return want.check("udp", addrs.DNS) })

	// shoal dns reads the embedded etcd with its client certificate.
	dnsAddr := testenv.FreeAddr(t)
	host, port, _ := net.SplitHostPort(dnsAddr)
	conf := filepath.Join(t.TempDir(), "Corefile")
	etcdPKI := filepath.Join(up.dataDir, "pki", "etcd")
	corefile := fmt.Sprintf(`cluster.local:%s {
    bind %s
    errors
    cluster {
        endpoint https://%s
        tls %s %s %s
    }
}
`, port, host, addrs.EtcdClient, filepath.Join(etcdPKI, "client.crt"), filepath.Join(etcdPKI, "client.key"), filepath.Join(etcdPKI, "ca.crt"))
	if err := os.WriteFile(conf, []byte(corefile), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, bin, "dns", "--conf", conf)
	testenv.Eventually(t, readyTimeout, "shoal dns", func() error {
		select {
		case <-p.done:
			return fmt.Errorf("shoal dns exited: %v\n%s", p.waitErr, p.stderr.String())
		default:
		}
		for _, network := range []string{"udp", "tcp"} {
			if err := want.check(network, dnsAddr); err != nil {
				return err
			}
		}
		return nil
	})
	p.signal(t, syscall.SIGTERM)
	if code := p.exit(t, exitTimeout); code != 0 {
		t.Errorf("shoal dns exited with %d after SIGTERM, want 0:\n%s", code, p.stderr.String())
	}

	// A Corefile error names the line and fails at once.
	bad := filepath.Join(t.TempDir(), "Corefile")
	if err := os.WriteFile(bad, []byte("cluster.local:"+port+" {\n    cluster {\n        ttl forever\n    }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startProcess(t, bin, "dns", "--conf", bad)
	if code := p.exit(t, exitTimeout); code != 1 || !strings.Contains(p.stderr.String(), bad+":3") {
		t.Errorf("shoal dns on a bad Corefile: exit %d, stderr %q; want 1 and the file's line 3", code, p.stderr.String())
	}
}
