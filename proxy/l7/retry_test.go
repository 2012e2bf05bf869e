package l7

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/proxytest"
)

// h2cClient speaks HTTP/2 with prior knowledge, as gRPC does.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestResetBeforeResponseRetried(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		tests := []struct {
			name   string
			reset  bool // the dying endpoint sends an RST rather than a FIN
			h2     bool
			method string
			body   string
			header string // an Idempotency-Key, if set
			retry  bool
		}{
			{name: "GET closed", method: http.MethodGet, retry: true},
			{name: "GET reset", reset: true, method: http.MethodGet, retry: true},
			{name: "HEAD closed", method: http.MethodHead, retry: true},
			{name: "GET closed h2c", h2: true, method: http.MethodGet, retry: true},
			{name: "GET reset h2c", h2: true, reset: true, method: http.MethodGet, retry: true},
			{name: "POST with body closed", method: http.MethodPost, body: "payload"},
			{name: "POST with body reset", reset: true, method: http.MethodPost, body: "payload"},
			{name: "POST without body closed", method: http.MethodPost},
			{name: "DELETE closed", method: http.MethodDelete},
			{name: "POST with Idempotency-Key", method: http.MethodPost, header: "k1", retry: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				proxytest.NoLeaks(t)
				dying := startRawBackend(t, tc.reset, tc.h2)
				good := startBackend(t, "good", nil)
				// The dying endpoint's weight makes it the first pick almost always.
				_, ln := startProxy(t, weighted(
					balancer.Endpoint{Addr: dying.addr, Weight: 1000},
					balancer.Endpoint{Addr: good.addr, Weight: 1}))
				client, _ := oneConnClient(t)
				if tc.h2 {
					client = h2cClient(t)
				}
				url := "http://" + ln.Addr().String() + "/"
				failures := 0
				for range 5 {
					req, _ := http.NewRequest(tc.method, url, strings.NewReader(tc.body))
					if tc.header != "" {
						req.Header.Set("Idempotency-Key", tc.header)
					}
					res, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					got, _ := io.ReadAll(res.Body)
					res.Body.Close()
					switch {
					case res.StatusCode == http.StatusOK && (tc.method == http.MethodHead || string(got) == "good "+tc.body):
					case res.StatusCode == http.StatusBadGateway && !tc.retry:
						failures++
					default:
						t.Fatalf("%s: %d %q", tc.method, res.StatusCode, got)
					}
				}

				n := float64(dying.accepted.Load())
				resets := counter(upstreamErrors.WithLabelValues(t.Name(), "reset"))
				retries := counter(retriesTotal.WithLabelValues(t.Name()))
				// The HTTP/2 transport may itself redial the same endpoint
				// once, so connections may outnumber failed attempts.
				if resets < 1 || resets > n {
					t.Fatalf("upstream_errors_total{kind=reset} = %v, want 1 to %v (the dying endpoint's connections)", resets, n)
				}
				if tc.retry {
					if retries != resets {
						t.Errorf("retries_total = %v, want %v", retries, resets)
					}
				} else {
					if retries != 0 || float64(failures) != resets {
						t.Errorf("retries_total = %v and %d 502s, want none and %v", retries, failures, resets)
					}
				}
			})
		}
	})
}

func TestEndpointKilledMidRequest(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		tests := []struct {
			name   string
			h2     bool
			method string
			body   string
			retry  bool
		}{
			{"GET", false, http.MethodGet, "", true},
			{"GET h2c", true, http.MethodGet, "", true},
			{"POST", false, http.MethodPost, "payload", false},
			{"POST h2c", true, http.MethodPost, "payload", false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				proxytest.NoLeaks(t)
				arrived, killed := make(chan struct{}, 1), make(chan struct{})
				doomed := startBackend(t, "doomed", func(_ http.ResponseWriter, r *http.Request) {
					arrived <- struct{}{}
					// An HTTP/1.1 handler that has not read the body does not
					// see its connection close.
					<-killed
				})
				good := startBackend(t, "good", nil)
				// The doomed endpoint is alone until the request is on it, so
				// the request goes there and a retry can only go to the other.
				c := weighted(balancer.Endpoint{Addr: doomed.addr})
				_, ln := startProxy(t, c)
				client, _ := oneConnClient(t)
				if tc.h2 {
					client = h2cClient(t)
				}

				type result struct {
					code int
					body string
					err  error
				}
				got := make(chan result, 1)
				go func() {
					req, _ := http.NewRequest(tc.method, "http://"+ln.Addr().String()+"/", strings.NewReader(tc.body))
					res, err := client.Do(req)
					if err != nil {
						got <- result{err: err}
						return
					}
					body, err := io.ReadAll(res.Body)
					res.Body.Close()
					got <- result{res.StatusCode, string(body), err}
				}()
				<-arrived
				c.Update([]balancer.Endpoint{{Addr: doomed.addr}, {Addr: good.addr}})
				doomed.srv.Close() // the listener and every connection, as a killed pod
				close(killed)

				r := <-got
				want, wantRetries := result{http.StatusOK, "good " + tc.body, nil}, 1.0
				if !tc.retry {
					want, wantRetries = result{http.StatusBadGateway, "bad gateway\n", nil}, 0
				}
				if r != want {
					t.Errorf("%s while its endpoint died: %d %q %v, want %d %q", tc.method, r.code, r.body, r.err, want.code, want.body)
				}
				if n := counter(retriesTotal.WithLabelValues(t.Name())); n != wantRetries {
					t.Errorf("retries_total = %v, want %v", n, wantRetries)
				}
				if n := counter(upstreamErrors.WithLabelValues(t.Name(), "reset")); n != 1 {
					t.Errorf("upstream_errors_total{kind=reset} = %v, want 1", n)
				}
				if n := good.hits.Load(); n != int64(wantRetries) {
					t.Errorf("the other endpoint got %d requests, want %v", n, wantRetries)
				}
				// The proxy ends the request on its endpoint just after the
				// client has the response.
				for _, h := range c.Hosts() {
					testenv.Eventually(t, 5*time.Second, "no active requests on "+h.Addr().String(), func() bool { return h.Active() == 0 })
				}
			})
		}
	})
}

func TestGRPCResetNotRetried(t *testing.T) {
	proxytest.NoLeaks(t)
	dying := startRawBackend(t, false, true)
	live := startGRPCBackend(t, "live")
	_, ln := startProxy(t, weighted(
		balancer.Endpoint{Addr: dying.addr, Weight: 1000},
		balancer.Endpoint{Addr: live, Weight: 1}))
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := testgrpc.NewTestServiceClient(cc)
	failed := 0
	for range 5 {
		ctx, cancel := context.WithCancel(t.Context())
		res, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		cancel()
		switch {
		case err == nil && res.GetHostname() == "live":
		case status.Code(err) == codes.Unavailable:
			failed++
		default:
			t.Fatalf("RPC: %v, %v", res, err)
		}
	}
	// Every RPC the dying endpoint took failed (it was not retried on the
	// live one). The endpoint may count one connection more than RPCs: the
	// proxy's HTTP/2 pool can dial again while a reset connection is being
	// torn down (seen once under make test's load: 5 failed, 6 accepted).
	if n := dying.accepted.Load(); failed == 0 || n < int64(failed) || n > int64(failed)+1 {
		t.Errorf("%d RPCs failed, the dying endpoint got %d connections: want at least one failure and one connection per failed RPC", failed, n)
	}
	if n := counter(retriesTotal.WithLabelValues(t.Name())); n != 0 {
		t.Errorf("retries_total = %v, want 0: a gRPC call is a POST", n)
	}
}
