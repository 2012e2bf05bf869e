package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/proxytest"
)

func TestMetricsPerService(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		for range 2 {
			if err := RegisterMetrics(reg); err != nil {
				t.Fatalf("RegisterMetrics: %v", err)
			}
		}
		b := startBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/missing" {
				w.WriteHeader(http.StatusNotFound)
			}
		})
		svcA, svcB := t.Name()+"/a:80", t.Name()+"/b:80"
		pa, lnA := startProxyWith(t, newCluster(balancer.Options{}, b.addr), Options{Service: svcA})
		// A second listener of service a, as while a replaced listener drains.
		pa2, _ := startProxyWith(t, newCluster(balancer.Options{}, b.addr), Options{Service: svcA})
		_, lnB := startProxyWith(t, newCluster(balancer.Options{ConsecutiveFailures: -1}, deadAddr(t)), Options{Service: svcB})
		client, _ := oneConnClient(t)
		for _, path := range []string{"/", "/", "/", "/missing"} {
			get(t, client, "http://"+lnA.Addr().String()+path)
		}
		if code, _ := get(t, client, "http://"+lnB.Addr().String()+"/"); code != http.StatusServiceUnavailable {
			t.Fatalf("through b: %d, want 503", code)
		}
		testenv.Eventually(t, 5*time.Second, "the requests' metrics", func() bool {
			a, _ := proxytest.Gathered(t, reg, "shoal_proxy_request_duration_seconds", "service", svcA)
			b, _ := proxytest.Gathered(t, reg, "shoal_proxy_request_duration_seconds", "service", svcB)
			return a == 4 && b == 1
		})

		tests := []struct {
			metric string
			labels []string
			want   float64
		}{
			{"shoal_proxy_requests_total", []string{"service", svcA, "code", "2xx"}, 3},
			{"shoal_proxy_requests_total", []string{"service", svcA, "code", "4xx"}, 1},
			{"shoal_proxy_requests_total", []string{"service", svcA, "code", "5xx"}, 0},
			{"shoal_proxy_request_duration_seconds", []string{"service", svcA}, 4},
			{"shoal_proxy_active_requests", []string{"service", svcA}, 0},
			{"shoal_proxy_upstream_errors_total", []string{"service", svcA}, 0},
			{"shoal_proxy_retries_total", []string{"service", svcA}, 0},
			{"shoal_proxy_requests_total", []string{"service", svcB, "code", "5xx"}, 1},
			{"shoal_proxy_requests_total", []string{"service", svcB, "code", "2xx"}, 0},
			{"shoal_proxy_upstream_errors_total", []string{"service", svcB, "kind", "connect"}, 1},
			{"shoal_proxy_upstream_errors_total", []string{"service", svcB, "kind", "no_endpoint"}, 0},
			{"shoal_proxy_request_duration_seconds", []string{"service", svcB}, 1},
		}
		for _, tc := range tests {
			if got, ok := proxytest.Gathered(t, reg, tc.metric, tc.labels...); !ok || got != tc.want {
				t.Errorf("%s%v = %v (found %v), want %v", tc.metric, tc.labels, got, ok, tc.want)
			}
		}

		// Service a's series stay while one of its proxies runs, and go with
		// the last; b's are untouched.
		shutdown := func(p *Proxy) {
			t.Helper()
			if err := p.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		shutdown(pa)
		if got, _ := proxytest.Gathered(t, reg, "shoal_proxy_requests_total", "service", svcA, "code", "2xx"); got != 3 {
			t.Errorf("after one of a's two proxies shut down: 2xx = %v, want 3", got)
		}
		shutdown(pa2)
		if _, ok := proxytest.Gathered(t, reg, "shoal_proxy_requests_total", "service", svcA); ok {
			t.Error("service a's series outlived its proxies")
		}
		if _, ok := proxytest.Gathered(t, reg, "shoal_proxy_upstream_errors_total", "service", svcB); !ok {
			t.Error("service b's series went with a's proxies")
		}
	})
}

func TestMetricsNoEndpoint(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		_, ln := startProxy(t, newCluster(balancer.Options{}))
		client, _ := oneConnClient(t)
		for range 2 {
			get(t, client, "http://"+ln.Addr().String()+"/")
		}
		if n := counter(upstreamErrors.WithLabelValues(t.Name(), "no_endpoint")); n != 2 {
			t.Errorf("upstream_errors_total{kind=no_endpoint} = %v, want 2", n)
		}
		testenv.Eventually(t, 5*time.Second, "requests_total{code=5xx} = 2", func() bool {
			return counter(requestsTotal.WithLabelValues(t.Name(), "5xx")) == 2
		})
	})
}

func TestClass(t *testing.T) {
	tests := []struct {
		code    int
		aborted bool
		want    int
	}{
		{101, false, 1}, {200, false, 2}, {304, false, 3}, {404, false, 4}, {503, false, 5},
		{0, false, 4}, // the client left
		{0, true, 5},  // Shutdown cut it
		{999, false, 5},
	}
	for _, tc := range tests {
		if got := class(tc.code, tc.aborted); got != tc.want {
			t.Errorf("class(%d, %v) = %d, want %d", tc.code, tc.aborted, got, tc.want)
		}
	}
}

func TestUnknownService(t *testing.T) {
	p := New(newCluster(balancer.Options{}), Options{})
	defer p.Shutdown(t.Context())
	if p.m.service != "unknown" {
		t.Errorf("service label %q, want \"unknown\"", p.m.service)
	}
}

func TestMetricsUpgradeCounted1xx(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		b := startBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
			brw.Flush()
			io.Copy(c, brw) // echo until the client closes
		})
		_, ln := startProxy(t, newCluster(balancer.Options{}, b.addr))
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v, %v", res, err)
		}
		io.WriteString(c, "hi")
		got := make([]byte, 2)
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "hi" {
			t.Fatalf("echo over the upgraded connection: %q, %v", got, err)
		}
		c.Close()
		testenv.Eventually(t, 5*time.Second, "requests_total{code=1xx} = 1", func() bool {
			return counter(requestsTotal.WithLabelValues(t.Name(), "1xx")) == 1
		})
	})
}
