package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/server"
	"github.com/shoalmesh/shoal/xds/translate"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

const (
	webVIP  = "10.96.0.20"
	dbVIP   = "10.96.0.30"
	webName = "web.default.svc.cluster.local:80"
	dbName  = "db.default.svc.cluster.local:5432"
)

// msgHook signals ch on every log record starting with prefix.
type msgHook struct {
	prefix string
	ch     chan struct{}
}

func (h msgHook) Enabled(context.Context, slog.Level) bool { return true }
func (h msgHook) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h msgHook) WithGroup(string) slog.Handler            { return h }
func (h msgHook) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// web is an HTTP service (port named "http") with the given ready pods;
// db a TCP one with one pod.
func web(ips ...string) translate.Service {
	svc := xdstest.Service("default", "web", 80, "")
	svc.Spec.ClusterIP = webVIP
	svc.Spec.Ports[0].Name = "http"
	ready := map[string]bool{}
	for _, ip := range ips {
		ready[ip] = true
	}
	sl := xdstest.Slice("default", "web", 8080, ready)
	sl.Ports[0].Name = ptr("http")
	return translate.Service{Service: svc, Slices: []*discoveryv1.EndpointSlice{sl}}
}

func db() translate.Service {
	svc := xdstest.Service("default", "db", 5432, "round-robin")
	svc.Spec.ClusterIP = dbVIP
	svc.Spec.Ports[0].Name = "postgres"
	sl := xdstest.Slice("default", "db", 5432, map[string]bool{"10.1.0.9": true})
	sl.Ports[0].Name = ptr("postgres")
	return translate.Service{Service: svc, Slices: []*discoveryv1.EndpointSlice{sl}}
}

func ptr[T any](v T) *T { return &v }

// recorder is a Handler that keeps every snapshot it applies and can be
// told to fail.
type recorder struct {
	mu   sync.Mutex
	last *Snapshot
	fail func(*Snapshot) error
	ch   chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) Apply(s *Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(s); err != nil {
			return err
		}
	}
	r.last = s
	select {
	case r.ch <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) setFail(f func(*Snapshot) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

// await waits until an applied snapshot satisfies ok.
func (r *recorder) await(t *testing.T, what string, ok func(*Snapshot) bool) *Snapshot {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		s := r.last
		r.mu.Unlock()
		if s != nil && ok(s) {
			return s
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("no snapshot with %s in 10 s; last: %+v", what, s)
		}
	}
}

// startClient runs a client against addr until the test ends.
func startClient(t *testing.T, addr string, h Handler, lg ...*slog.Logger) *Client {
	t.Helper()
	cfg := Config{Addr: addr, NodeID: "node-1", BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
	if len(lg) > 0 {
		cfg.Logger = lg[0]
	}
	c := New(cfg, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return c
}

func endpointsOf(s *Snapshot, cluster string) []string {
	var out []string
	for _, e := range s.Endpoints[cluster] {
		out = append(out, e.Addr.String())
	}
	return out
}

func hasEndpoints(cluster string, want ...string) func(*Snapshot) bool {
	return func(s *Snapshot) bool { return fmt.Sprint(endpointsOf(s, cluster)) == fmt.Sprint(want) }
}

// complete reports whether s has every resource of n services, each with
// one route (all test services but db are HTTP), so that no more responses
// are due.
func complete(n, routes int, s *Snapshot) bool {
	return len(s.Listeners) == n && len(s.Clusters) == n && len(s.Endpoints) == n && len(s.Routes) == routes
}

func TestInitialSnapshotAndEndpointChange(t *testing.T) {
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, web("10.1.0.1", "10.1.0.2"), db())
	rec := newRecorder()
	c := startClient(t, srv.Addr, rec)

	s := rec.await(t, "both services' endpoints", func(s *Snapshot) bool {
		return len(s.Endpoints) == 2 && len(s.Routes) == 1
	})
	wantListeners := map[string]Listener{
		webVIP + "_80":  {Name: webVIP + "_80", Addr: netip.MustParseAddrPort(webVIP + ":80"), Route: webName},
		dbVIP + "_5432": {Name: dbVIP + "_5432", Addr: netip.MustParseAddrPort(dbVIP + ":5432"), Cluster: dbName},
	}
	if fmt.Sprint(s.Listeners) != fmt.Sprint(wantListeners) {
		t.Errorf("listeners:\n got %+v\nwant %+v", s.Listeners, wantListeners)
	}
	rc := s.Routes[webName]
	if len(rc.VirtualHosts) != 1 || len(rc.VirtualHosts[0].Routes) != 1 ||
		rc.VirtualHosts[0].Routes[0] != (Route{Prefix: "/", Cluster: webName}) {
		t.Errorf("route %s: %+v", webName, rc)
	}
	if cl := s.Clusters[dbName]; !cl.LRS || cl.EDSName != dbName || len(cl.LBPolicies) == 0 {
		t.Errorf("cluster %s: %+v", dbName, cl)
	}
	if got := endpointsOf(s, webName); fmt.Sprint(got) != "[10.1.0.1:8080 10.1.0.2:8080]" {
		t.Errorf("web endpoints: %v", got)
	}
	for _, e := range s.Endpoints[webName] {
		if e.Weight == 0 || e.Health != Healthy || e.SubZone != e.Addr.Addr().String() {
			t.Errorf("endpoint %+v", e)
		}
	}
	if c.Snapshot() != s {
		t.Error("Client.Snapshot is not the last applied snapshot")
	}

	srv.Feed(t, web("10.1.0.1", "10.1.0.3"), db())
	next := rec.await(t, "the new web endpoint", hasEndpoints(webName, "10.1.0.1:8080", "10.1.0.3:8080"))
	if got := endpointsOf(s, webName); fmt.Sprint(got) != "[10.1.0.1:8080 10.1.0.2:8080]" {
		t.Errorf("an earlier snapshot changed: %v", got)
	}
	if fmt.Sprint(next.Listeners) != fmt.Sprint(wantListeners) {
		t.Errorf("listeners changed: %+v", next.Listeners)
	}

	// Removing a service drops its listener, cluster and endpoints.
	srv.Feed(t, web("10.1.0.1", "10.1.0.3"))
	rec.await(t, "db gone", func(s *Snapshot) bool {
		_, l := s.Listeners[dbVIP+"_5432"]
		_, c := s.Clusters[dbName]
		_, e := s.Endpoints[dbName]
		return !l && !c && !e
	})
}

func TestHandlerErrorIsNACKed(t *testing.T) {
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, web("10.1.0.1"))
	rec := newRecorder()
	c := startClient(t, srv.Addr, rec)
	good := rec.await(t, "web endpoints", func(s *Snapshot) bool {
		return complete(1, 1, s) && hasEndpoints(webName, "10.1.0.1:8080")(s)
	})

	rec.setFail(func(s *Snapshot) error {
		for _, e := range s.Endpoints[webName] {
			if e.Addr.Addr() == netip.MustParseAddr("10.1.0.66") {
				return &ResourceError{Type: EDS, Name: webName, Err: errors.New("endpoint 10.1.0.66 refused")}
			}
		}
		return nil
	})
	srv.Feed(t, web("10.1.0.1", "10.1.0.66"))
	reason := srv.NACK(t)
	if !strings.Contains(reason, webName) || !strings.Contains(reason, "10.1.0.66 refused") {
		t.Errorf("NACK reason %q does not name the resource and the reason", reason)
	}
	// Feeding re-sends listeners, routes and clusters too (with new
	// versions); only the endpoints must be as before.
	if now := c.Snapshot(); now.Versions[EDS] != good.Versions[EDS] || !hasEndpoints(webName, "10.1.0.1:8080")(now) {
		t.Errorf("the rejected endpoints replaced the good ones: %v", endpointsOf(now, webName))
	}
	srv.Feed(t, web("10.1.0.1", "10.1.0.4"))
	rec.await(t, "the next good update", hasEndpoints(webName, "10.1.0.1:8080", "10.1.0.4:8080"))
}

func TestMalformedListenerIsNACKed(t *testing.T) {
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, web("10.1.0.1"))
	rec := newRecorder()
	c := startClient(t, srv.Addr, rec)
	good := rec.await(t, "web endpoints", func(s *Snapshot) bool {
		return complete(1, 1, s) && hasEndpoints(webName, "10.1.0.1:8080")(s)
	})

	name := webVIP + "_80"
	bad := proto.Clone(srv.Resources(server.OutboundListeners)[name].(*listenerv3.Listener)).(*listenerv3.Listener)
	bad.Address = nil
	if err := srv.Update(server.OutboundListeners, map[string]types.Resource{name: bad}, nil); err != nil {
		t.Fatal(err)
	}
	reason := srv.NACK(t)
	if !strings.Contains(reason, name) || !strings.Contains(reason, ErrNoAddress.Error()) {
		t.Errorf("NACK reason %q does not name the listener and the problem", reason)
	}
	if c.Snapshot() != good {
		t.Error("the malformed listener replaced the good snapshot")
	}

	// The next good listener is applied.
	fixed := proto.Clone(bad).(*listenerv3.Listener)
	fixed.Address = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "10.96.0.21", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 80}}}}
	if err := srv.Update(server.OutboundListeners, map[string]types.Resource{name: fixed}, nil); err != nil {
		t.Fatal(err)
	}
	rec.await(t, "the fixed listener", func(s *Snapshot) bool {
		return s.Listeners[name].Addr == netip.MustParseAddrPort("10.96.0.21:80")
	})
}

func TestReconnectKeepsConfigAndResyncs(t *testing.T) {
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, web("10.1.0.1"), db())
	rec := newRecorder()
	retries := make(chan struct{}, 100)
	c := startClient(t, srv.Addr, rec, slog.New(msgHook{"xDS stream ended", retries}))
	good := rec.await(t, "both services", func(s *Snapshot) bool { return complete(2, 1, s) })

	srv.Stop()
	// With the server gone the client keeps retrying; nothing is applied
	// and the configuration stays.
	for range 3 {
		select {
		case <-retries:
		case <-time.After(10 * time.Second):
			t.Fatal("no reconnection attempt in 10 s")
		}
	}
	if c.Snapshot() != good {
		t.Fatal("configuration changed while the server was down")
	}

	srv2 := xdstest.StartServer(t, srv.Addr)
	srv2.Feed(t, web("10.1.0.1", "10.1.0.5"), db())
	rec.await(t, "the new server's endpoints", hasEndpoints(webName, "10.1.0.1:8080", "10.1.0.5:8080"))
	s := c.Snapshot()
	if len(s.Listeners) != 2 || len(s.Clusters) != 2 || len(s.Routes) != 1 || len(s.Endpoints[dbName]) != 1 {
		t.Errorf("after resync: %+v", s)
	}
}

func TestCancelStopsRun(t *testing.T) {
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, web("10.1.0.1"))
	before := runtime.NumGoroutine()
	rec := newRecorder()
	c := New(Config{Addr: srv.Addr, NodeID: "node-1"}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	rec.await(t, "web endpoints", hasEndpoints(webName, "10.1.0.1:8080"))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// The server's side of the stream winds down too; wait for the count
	// to come back rather than sleep.
	testenv.Eventually(t, 5*time.Second, "the stream's goroutines to end", func() error {
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			return fmt.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		return nil
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	if err := New(Config{Addr: "127.0.0.1:1"}, HandlerFunc(func(*Snapshot) error { return nil })).Run(t.Context()); !errors.Is(err, errNoConfig) {
		t.Errorf("Run without NodeID: %v", err)
	}
}
