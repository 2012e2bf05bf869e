package l7

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/proxytest"

	"github.com/shoalmesh/shoal/proxy/balancer"
)

func TestKeepAliveClientSpreadPerRequest(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		var addrs []netip.AddrPort
		for _, n := range []string{"a", "b", "c"} {
			addrs = append(addrs, startBackend(t, n, nil).addr)
		}
		_, ln := startProxy(t, newCluster(balancer.Options{}, addrs...))
		client, dials := oneConnClient(t)
		seen := map[string]int{}
		for range 60 {
			code, body := get(t, client, "http://"+ln.Addr().String()+"/")
			if code != http.StatusOK {
				t.Fatalf("status %d: %q", code, body)
			}
			seen[strings.TrimSpace(body)]++
		}
		if len(seen) != 3 {
			t.Errorf("answers by backend %v, want all three", seen)
		}
		if d, a := dials.Load(), ln.accepted.Load(); d != 1 || a != 1 {
			t.Errorf("client dialled %d, proxy accepted %d connections; want 1 and 1", d, a)
		}
	})
}

func TestSlowBackendGetsFewerRequests(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		slow := startBackend(t, "slow", func(http.ResponseWriter, *http.Request) { time.Sleep(50 * time.Millisecond) })
		fast1 := startBackend(t, "fast1", nil)
		fast2 := startBackend(t, "fast2", nil)
		_, ln := startProxy(t, newCluster(balancer.Options{}, slow.addr, fast1.addr, fast2.addr))
		url := "http://" + ln.Addr().String() + "/"

		tr := &http.Transport{MaxIdleConnsPerHost: 8}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 30 {
					res, err := client.Get(url)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			})
		}
		wg.Wait()
		s, f1, f2 := slow.hits.Load(), fast1.hits.Load(), fast2.hits.Load()
		t.Logf("requests: slow %d, fast %d and %d", s, f1, f2)
		if s*3 > min(f1, f2) {
			t.Errorf("slow backend got %d requests, fast ones %d and %d: want under a third", s, f1, f2)
		}
	})
}

func TestDeadEndpointRetried(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		dead := deadAddr(t)
		a := startBackend(t, "a", nil)
		b := startBackend(t, "b", nil)
		// Without ejection the dead endpoint keeps being picked (a third of
		// the time): every GET and every POST, body included, must still
		// succeed on another endpoint.
		c := newCluster(balancer.Options{ConsecutiveFailures: -1}, dead, a.addr, b.addr)
		_, ln := startProxy(t, c)
		url := "http://" + ln.Addr().String() + "/"
		client, _ := oneConnClient(t)
		for i := range 60 {
			method, body := http.MethodGet, ""
			if i%2 == 1 {
				method, body = http.MethodPost, "payload"
			}
			req, _ := http.NewRequest(method, url, strings.NewReader(body))
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.HasSuffix(string(got), " "+body) {
				t.Fatalf("%s: status %d, body %q", method, res.StatusCode, got)
			}
		}
		// The proxy ends a request on its endpoint just after the client has
		// the response.
		for _, h := range c.Hosts() {
			testenv.Eventually(t, 5*time.Second, "no active requests on "+h.Addr().String(), func() bool { return h.Active() == 0 })
		}

		// With ejection after one failure, the failed connects are reported.
		ejecting := newCluster(balancer.Options{ConsecutiveFailures: 1}, dead, a.addr, b.addr)
		_, ln2 := startProxy(t, ejecting)
		for range 30 {
			if code, body := get(t, client, "http://"+ln2.Addr().String()+"/"); code != http.StatusOK {
				t.Fatalf("status %d: %q", code, body)
			}
		}
		for _, h := range ejecting.Hosts() {
			if got, want := h.Ejected(), h.Addr() == dead; got != want {
				t.Errorf("%s ejected: %v, want %v", h.Addr(), got, want)
			}
		}
	})
}

func TestNoEndpoint503(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		tests := []struct {
			name  string
			addrs []netip.AddrPort
			body  string
		}{
			{"empty cluster", nil, "no healthy upstream\n"},
			{"all dead", []netip.AddrPort{deadAddr(t), deadAddr(t)}, "upstream connect error\n"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, ln := startProxy(t, newCluster(balancer.Options{ConsecutiveFailures: -1}, tc.addrs...))
				client, _ := oneConnClient(t)
				for range 3 {
					code, body := get(t, client, "http://"+ln.Addr().String()+"/")
					if code != http.StatusServiceUnavailable || body != tc.body {
						t.Errorf("got %d %q, want 503 %q", code, body, tc.body)
					}
				}
			})
		}
	})
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		b := startBackend(t, "held", func(http.ResponseWriter, *http.Request) {
			close(arrived)
			<-release
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		c := newCluster(balancer.Options{}, b.addr)
		p := New(c, pathOptions(t, Options{}))
		served := make(chan error, 1)
		go func() { served <- p.Serve(ln) }()

		client, _ := oneConnClient(t)
		type result struct {
			code int
			body string
			err  error
		}
		got := make(chan result, 1)
		go func() {
			res, err := client.Get("http://" + addr + "/")
			if err != nil {
				got <- result{err: err}
				return
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			got <- result{res.StatusCode, string(body), err}
		}()
		<-arrived
		if n := c.Hosts()[0].Active(); n != 1 {
			t.Errorf("active requests on the endpoint: %d, want 1", n)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut := make(chan error, 1)
		go func() { shut <- p.Shutdown(ctx) }()
		// Wait until the proxy stopped accepting.
		testenv.Eventually(t, 5*time.Second, "the proxy to stop accepting after Shutdown", func() bool {
			conn, err := net.Dial("tcp", addr)
			if err == nil {
				conn.Close()
			}
			return err != nil
		})
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v with a request in flight", err)
		default:
		}
		close(release)
		if r := <-got; r.err != nil || r.code != http.StatusOK || r.body != "held " {
			t.Errorf("in-flight request: %d %q %v", r.code, r.body, r.err)
		}
		if err := <-shut; err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrProxyClosed) {
			t.Errorf("serve: %v", err)
		}
		if n := c.Hosts()[0].Active(); n != 0 {
			t.Errorf("active requests after shutdown: %d", n)
		}
		if err := p.Serve(ln); !errors.Is(err, ErrProxyClosed) {
			t.Errorf("serve after shutdown: %v", err)
		}
	})
}

func TestShutdownDeadlineAbortsRequests(t *testing.T) {
	proxytest.NoLeaks(t)
	forEachPath(t, func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		defer close(release)
		b := startBackend(t, "held", func(_ http.ResponseWriter, r *http.Request) {
			close(arrived)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := newCluster(balancer.Options{}, b.addr)
		p := New(c, pathOptions(t, Options{}))
		served := make(chan error, 1)
		go func() { served <- p.Serve(ln) }()
		client, _ := oneConnClient(t)
		failed := make(chan error, 1)
		go func() {
			res, err := client.Get("http://" + ln.Addr().String() + "/")
			if err == nil {
				_, err = io.ReadAll(res.Body)
				res.Body.Close()
			}
			failed <- err
		}()
		<-arrived
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("shutdown: %v, want deadline exceeded", err)
		}
		if err := <-failed; err == nil {
			t.Error("request cut by Shutdown succeeded")
		}
		<-served
		if n := c.Hosts()[0].Active(); n != 0 {
			t.Errorf("active requests after shutdown: %d", n)
		}
	})
}
