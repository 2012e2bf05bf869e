package resolver_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/dns/resolver"
	"github.com/shoalmesh/shoal/dns/resolver/resolvertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// clusterResolver is a resolver on the built-in Corefile (with its
// side listeners) over a running Shoal's caches, forwarding to a test
// upstream.
type clusterResolver struct {
	shoal    *clustertest.Shoal
	defaults resolver.Defaults
	up       *upstream
	srv      *resolver.Server
}

func startClusterResolver(t testing.TB) *clusterResolver {
	t.Helper()
	// shoal up registers its caches for the cluster plugin (cluster.UseCaches).
	s := clustertest.Start(t, clustertest.Options{})
	up := &upstream{ip: "192.0.2.1"}
	d := resolver.Defaults{
		Addr:        testenv.FreeAddr(t),
		ReadyAddr:   testenv.FreeAddr(t),
		HealthAddr:  testenv.FreeAddr(t),
		MetricsAddr: testenv.FreeAddr(t),
		Upstream:    resolvertest.Upstream(t, up),
	}
	cr := &clusterResolver{shoal: s, defaults: d, up: up, srv: resolvertest.Start(t, d.Corefile())}
	testenv.Eventually(t, 10*time.Second, "cluster zone synced", func() error {
		_, err := cr.kubernetesA("udp")
		return err
	})
	return cr
}

// kubernetesA asks for the kubernetes service, which every Shoal has.
func (cr *clusterResolver) kubernetesA(network string) (*dns.Msg, error) {
	r, err := resolvertest.Ask(network, cr.defaults.Addr, resolvertest.Query("kubernetes.default.svc.cluster.local", dns.TypeA))
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.96.0.1" {
		return r, &unexpected{r}
	}
	return r, nil
}

type unexpected struct{ m *dns.Msg }

func (u *unexpected) Error() string { return "unexpected answer:\n" + u.m.String() }

func TestResolverDefaultCorefile(t *testing.T) {
	cr := startClusterResolver(t)
	addr := cr.defaults.Addr
	for _, network := range []string{"udp", "tcp"} {
		r, err := cr.kubernetesA(network)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if ttl := r.Answer[0].Header().Ttl; ttl != 5 {
			t.Errorf("%s: cluster TTL %d, want 5", network, ttl)
		}
	}

	// Cluster answers are not cached: a second query is answered by the
	// plugin again, and a name outside the zone is NXDOMAIN, not forwarded.
	r := resolvertest.Exchange(t, "udp", addr, resolvertest.Query("nope.default.svc.cluster.local", dns.TypeA))
	if r.Rcode != dns.RcodeNameError {
		t.Errorf("nope.default.svc.cluster.local: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	// A reverse name outside the service range falls through to forward.
	rev, _ := dns.ReverseAddr("192.0.2.7")
	r = resolvertest.Exchange(t, "udp", addr, resolvertest.Query(rev, dns.TypePTR))
	if r.Rcode != dns.RcodeNameError || cr.up.count.Load() != 1 {
		t.Errorf("PTR %s: %s after %d upstream queries, want the upstream's NXDOMAIN", rev, dns.RcodeToString[r.Rcode], cr.up.count.Load())
	}
	// Other names are forwarded and cached at most 5 s.
	for range 2 {
		r = resolvertest.Exchange(t, "udp", addr, resolvertest.Query("www.example.org", dns.TypeA))
		if len(r.Answer) != 1 || r.Answer[0].Header().Ttl > 5 {
			t.Fatalf("www.example.org: %v, want one A with a TTL of at most 5", r)
		}
	}
	if n := cr.up.count.Load(); n != 2 {
		t.Errorf("upstream asked %d times, want 2 (the PTR and one A; the cache answered the repeat)", n)
	}

	for _, get := range []struct{ what, url, want string }{
		{"ready", "http://" + cr.defaults.ReadyAddr + "/ready", "OK"},
		{"health", "http://" + cr.defaults.HealthAddr + "/health", "OK"},
		{"metrics", "http://" + cr.defaults.MetricsAddr + "/metrics", `coredns_dns_requests_total{`},
	} {
		testenv.Eventually(t, 10*time.Second, get.what, func() error {
			resp, err := http.Get(get.url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), get.want) {
				return &httpError{resp.Status, string(body)}
			}
			return nil
		})
	}
}

type httpError struct{ status, body string }

func (e *httpError) Error() string { return e.status + ": " + e.body }
