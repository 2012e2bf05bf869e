package loadreport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/proxytest"
	"github.com/shoalmesh/shoal/proxy/xdsclient"
	"github.com/shoalmesh/shoal/xds/load"
	"github.com/shoalmesh/shoal/xds/lrs"
)

const interval = 20 * time.Millisecond

// recorder serves LRS with inner (the real server, or a scripted one) and
// keeps every request the client sent.
type recorder struct {
	lrsv3.UnimplementedLoadReportingServiceServer
	inner lrsv3.LoadReportingServiceServer

	mu   sync.Mutex
	reqs []*lrsv3.LoadStatsRequest
}

func (rec *recorder) StreamLoadStats(ss lrsv3.LoadReportingService_StreamLoadStatsServer) error {
	return rec.inner.StreamLoadStats(recording{ss, rec})
}

type recording struct {
	lrsv3.LoadReportingService_StreamLoadStatsServer
	rec *recorder
}

func (r recording) Recv() (*lrsv3.LoadStatsRequest, error) {
	req, err := r.LoadReportingService_StreamLoadStatsServer.Recv()
	if err == nil {
		r.rec.mu.Lock()
		r.rec.reqs = append(r.rec.reqs, proto.Clone(req).(*lrsv3.LoadStatsRequest))
		r.rec.mu.Unlock()
	}
	return req, err
}

func (rec *recorder) requests() []*lrsv3.LoadStatsRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*lrsv3.LoadStatsRequest(nil), rec.reqs...)
}

// n4 are an endpoint's counts: issued, succeeded, errors, and in progress
// (in sums: the last report's).
type n4 [4]uint64

// sums adds up, per cluster and endpoint IP, the counts of every report.
func (rec *recorder) sums() map[string]map[string]n4 {
	out := map[string]map[string]n4{}
	for _, req := range rec.requests() {
		for _, cs := range req.GetClusterStats() {
			m := out[cs.GetClusterName()]
			if m == nil {
				m = map[string]n4{}
				out[cs.GetClusterName()] = m
			}
			for _, ls := range cs.GetUpstreamLocalityStats() {
				for _, es := range ls.GetUpstreamEndpointStats() {
					ip := es.GetAddress().GetSocketAddress().GetAddress()
					c := m[ip]
					c[0] += es.GetTotalIssuedRequests()
					c[1] += es.GetTotalSuccessfulRequests()
					c[2] += es.GetTotalErrorRequests()
					c[3] = es.GetTotalRequestsInProgress()
					m[ip] = c
				}
			}
		}
	}
	return out
}

// serve serves srv on addr ("127.0.0.1:0" for any port) until stop.
func serve(t *testing.T, addr string, srv lrsv3.LoadReportingServiceServer) (string, func()) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	lrsv3.RegisterLoadReportingServiceServer(g, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Serve(lis)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			g.Stop()
			<-done
		})
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

// startLRS serves Shoal's LRS server with a new table.
func startLRS(t *testing.T, addr string) (*load.Table, *recorder, string, func()) {
	t.Helper()
	tb := load.NewTable()
	rec := &recorder{inner: lrs.New(tb, lrs.Options{Interval: interval})}
	addr, stop := serve(t, addr, rec)
	return tb, rec, addr, stop
}

// proxy stands for the node proxy's configuration.
type proxy struct {
	mu     sync.Mutex
	infos  map[string]ClusterInfo
	called chan struct{} // a value after each call to clusters
}

func newProxy(infos map[string]ClusterInfo) *proxy {
	return &proxy{infos: infos, called: make(chan struct{}, 1)}
}

func (p *proxy) clusters() map[string]ClusterInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case p.called <- struct{}{}:
	default:
	}
	return p.infos
}

func (p *proxy) set(infos map[string]ClusterInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.infos = infos
}

// run runs a reporter until the test ends, and checks that Run returns nil
// promptly then. It returns once the reporter has started counting: it
// has read the clusters a second time, so the first read, the starting
// point, is over.
func run(t *testing.T, cfg Config) {
	t.Helper()
	cfg.NodeID = "proxy~node-1"
	cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	started := make(chan struct{})
	var calls atomic.Int32
	clusters := cfg.Clusters
	cfg.Clusters = func() map[string]ClusterInfo {
		if calls.Add(1) == 2 {
			close(started)
		}
		return clusters()
	}
	r := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	<-started
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func sumsAre(rec *recorder, cluster string, want map[string]n4) func() bool {
	return func() bool {
		got := rec.sums()[cluster]
		for ip, w := range want {
			if got[ip] != w {
				return false
			}
		}
		return len(got) == len(want)
	}
}

func TestReportsToShoalLRS(t *testing.T) {
	proxytest.NoLeaks(t)
	tb, rec, addr, _ := startLRS(t, "127.0.0.1:0")
	echo := newCluster(ep("127.0.0.2:8080"), ep("127.0.0.3:8080"))
	echo.EDSName = "echo"
	off := newCluster(ep("127.0.0.9:8080"))
	off.LRS = false
	p := newProxy(map[string]ClusterInfo{"echo.default:8080": echo, "off": off})
	run(t, Config{Addr: addr, Clusters: p.clusters})

	a, b := host(echo, "127.0.0.2:8080"), host(echo, "127.0.0.3:8080")
	traffic(a, 10, 8, 2, 7)
	traffic(b, 5, 5, 0, 5)
	traffic(off.Balancer.Hosts()[0], 3, 3, 0, 1)
	testenv.Eventually(t, 10*time.Second, "the counts in reports", sumsAre(rec, "echo.default:8080", map[string]n4{
		"127.0.0.2": {10, 8, 2, 3},
		"127.0.0.3": {5, 5, 0, 0},
	}))
	testenv.Eventually(t, 10*time.Second, "the load table to have the in-flight requests", func() bool {
		snap := tb.Snapshot(time.Now())
		return snap["127.0.0.2"].InFlight == 3 && snap["127.0.0.2"].Reporters == 1
	})

	// More over several intervals: each counted once.
	for range 5 {
		traffic(a, 2, 2, 0, 2)
		traffic(b, 1, 0, 1, 1)
		time.Sleep(interval / 2)
	}
	traffic(a, 0, 3, 0, 3)
	testenv.Eventually(t, 10*time.Second, "the later counts", sumsAre(rec, "echo.default:8080", map[string]n4{
		"127.0.0.2": {20, 21, 2, 0},
		"127.0.0.3": {10, 5, 5, 0},
	}))
	testenv.Eventually(t, 10*time.Second, "the load table to see the requests end", func() bool {
		snap := tb.Snapshot(time.Now())
		return len(snap) == 2 && snap["127.0.0.2"].InFlight == 0 && snap["127.0.0.3"].InFlight == 0
	})

	reqs := rec.requests()
	if n := reqs[0].GetNode(); n.GetId() != "proxy~node-1" || n.GetUserAgentName() != xdsclient.UserAgent ||
		len(n.GetClientFeatures()) != 1 || n.GetClientFeatures()[0] != sendAllClusters || len(reqs[0].GetClusterStats()) != 0 {
		t.Errorf("first request = %v, want only the node, with the send-all-clusters feature", reqs[0])
	}
	for _, req := range reqs[1:] {
		if req.GetNode() != nil {
			t.Errorf("node sent again: %v", req)
		}
		for _, cs := range req.GetClusterStats() {
			if cs.GetClusterName() != "echo.default:8080" || cs.GetClusterServiceName() != "echo" {
				t.Fatalf("reported cluster %q (service %q), want only echo.default:8080 (echo)",
					cs.GetClusterName(), cs.GetClusterServiceName())
			}
			if iv := cs.GetLoadReportInterval().AsDuration(); iv < interval || iv > time.Second {
				t.Errorf("load_report_interval %v, want the time since the last report (%v or a bit more)", iv, interval)
			}
			for _, ls := range cs.GetUpstreamLocalityStats() {
				es := ls.GetUpstreamEndpointStats()
				if len(es) != 1 || es[0].GetAddress().GetSocketAddress().GetAddress() != ls.GetLocality().GetSubZone() ||
					es[0].GetAddress().GetSocketAddress().GetPortValue() != 8080 ||
					es[0].GetTotalIssuedRequests() != ls.GetTotalIssuedRequests() {
					t.Errorf("locality %v: want one endpoint, at sub_zone:8080, with the locality's counts", ls)
				}
			}
		}
	}
}

func TestRemovedHostReported(t *testing.T) {
	proxytest.NoLeaks(t)
	tb, rec, addr, _ := startLRS(t, "127.0.0.1:0")
	echo := newCluster(ep("127.0.0.2:8080"), ep("127.0.0.3:8080"))
	other := newCluster(ep("127.0.0.4:8080"))
	p := newProxy(map[string]ClusterInfo{"echo": echo, "other": other})
	run(t, Config{Addr: addr, Clusters: p.clusters})

	// A host leaves its cluster, and a cluster the configuration, with
	// work that ends afterwards.
	gone := host(echo, "127.0.0.2:8080")
	traffic(gone, 4, 0, 0, 0)
	traffic(host(other, "127.0.0.4:8080"), 2, 0, 0, 0)
	echo.Endpoints = echo.Endpoints[1:]
	update(echo.Balancer, echo.Endpoints)
	p.set(map[string]ClusterInfo{"echo": echo})
	testenv.Eventually(t, 10*time.Second, "the removed host's in-flight requests", sumsAre(rec, "echo", map[string]n4{"127.0.0.2": {4, 0, 0, 4}}))
	testenv.Eventually(t, 10*time.Second, "the gone cluster's in-flight requests", sumsAre(rec, "other", map[string]n4{"127.0.0.4": {2, 0, 0, 2}}))
	traffic(gone, 0, 3, 1, 4)
	traffic(other.Balancer.Hosts()[0], 0, 2, 0, 2)
	testenv.Eventually(t, 10*time.Second, "the removed host's last counts", sumsAre(rec, "echo", map[string]n4{"127.0.0.2": {4, 3, 1, 0}}))
	testenv.Eventually(t, 10*time.Second, "the gone cluster's last counts", sumsAre(rec, "other", map[string]n4{"127.0.0.4": {2, 2, 0, 0}}))
	testenv.Eventually(t, 10*time.Second, "the load table to see them end", func() bool {
		snap := tb.Snapshot(time.Now())
		return snap["127.0.0.2"].InFlight == 0 && snap["127.0.0.4"].InFlight == 0
	})
}

// logWatch is a slog handler that signals each record whose message
// starts with prefix.
type logWatch struct {
	prefix string
	c      chan struct{}
}

func (w logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w logWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w logWatch) WithGroup(string) slog.Handler            { return w }
func (w logWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, w.prefix) {
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
	return nil
}

func TestReconnects(t *testing.T) {
	proxytest.NoLeaks(t)
	_, rec1, addr, stop := startLRS(t, "127.0.0.1:0")
	echo := newCluster(ep("127.0.0.2:8080"))
	p := newProxy(map[string]ClusterInfo{"echo": echo})
	ended := logWatch{"LRS stream ended", make(chan struct{}, 1)}
	run(t, Config{Addr: addr, Clusters: p.clusters, Logger: slog.New(ended)})
	h := host(echo, "127.0.0.2:8080")
	traffic(h, 3, 3, 0, 3)
	testenv.Eventually(t, 10*time.Second, "the first server's counts", sumsAre(rec1, "echo", map[string]n4{"127.0.0.2": {3, 3, 0, 0}}))

	// Traffic while the server is away goes to the next one.
	stop()
	select {
	case <-ended.c:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end with the server")
	}
	traffic(h, 7, 5, 2, 6)
	tb2, rec2, _, _ := startLRS(t, addr)
	testenv.Eventually(t, 10*time.Second, "the second server's counts", sumsAre(rec2, "echo", map[string]n4{"127.0.0.2": {7, 5, 2, 1}}))
	testenv.Eventually(t, 10*time.Second, "the second server's table", func() bool {
		l := tb2.Snapshot(time.Now())["127.0.0.2"]
		return l.InFlight == 1 && l.Reporters == 1
	})
	if got := rec1.sums()["echo"]["127.0.0.2"]; got != (n4{3, 3, 0, 0}) {
		t.Errorf("first server got %v, want only the first traffic", got)
	}
}

// scripted is an LRS server that answers the first request with first,
// and sends what comes on next.
type scripted struct {
	lrsv3.UnimplementedLoadReportingServiceServer
	first *lrsv3.LoadStatsResponse
	next  chan *lrsv3.LoadStatsResponse
}

func (s *scripted) StreamLoadStats(ss lrsv3.LoadReportingService_StreamLoadStatsServer) error {
	if _, err := ss.Recv(); err != nil {
		return nil
	}
	if err := ss.Send(s.first); err != nil {
		return err
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if _, err := ss.Recv(); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ended:
			return nil
		case resp := <-s.next:
			if err := ss.Send(resp); err != nil {
				return err
			}
		}
	}
}

// localitySums adds up the locality totals of cluster's reports by
// sub_zone, and says whether any had endpoint stats.
func (rec *recorder) localitySums(cluster string) (map[string]n4, bool) {
	out, endpoints := map[string]n4{}, false
	for _, req := range rec.requests() {
		for _, cs := range req.GetClusterStats() {
			if cs.GetClusterName() != cluster {
				continue
			}
			for _, ls := range cs.GetUpstreamLocalityStats() {
				c := out[ls.GetLocality().GetSubZone()]
				c[0] += ls.GetTotalIssuedRequests()
				c[1] += ls.GetTotalSuccessfulRequests()
				c[2] += ls.GetTotalErrorRequests()
				c[3] = ls.GetTotalRequestsInProgress()
				out[ls.GetLocality().GetSubZone()] = c
				endpoints = endpoints || len(ls.GetUpstreamEndpointStats()) > 0
			}
		}
	}
	return out, endpoints
}

func TestRequestedClustersOnly(t *testing.T) {
	proxytest.NoLeaks(t)
	iv := durationpb.New(interval)
	srv := &scripted{
		first: &lrsv3.LoadStatsResponse{Clusters: []string{"a", "off", "unknown"}, LoadReportingInterval: iv},
		next:  make(chan *lrsv3.LoadStatsResponse),
	}
	rec := &recorder{inner: srv}
	addr, _ := serve(t, "127.0.0.1:0", rec)
	a, b, off := newCluster(ep("10.0.0.1:80")), newCluster(ep("10.0.0.2:80")), newCluster(ep("10.0.0.3:80"))
	off.LRS = false
	p := newProxy(map[string]ClusterInfo{"a": a, "b": b, "off": off})
	run(t, Config{Addr: addr, Clusters: p.clusters})
	for _, c := range []ClusterInfo{a, b, off} {
		traffic(c.Balancer.Hosts()[0], 1, 1, 0, 1)
	}
	testenv.Eventually(t, 10*time.Second, "a's report", func() bool {
		got, _ := rec.localitySums("a")
		return got["10.0.0.1"] == n4{1, 1, 0, 0}
	})
	n := len(rec.requests())
	testenv.Eventually(t, 10*time.Second, "two more reports", func() bool { return len(rec.requests()) >= n+2 })
	if _, endpoints := rec.localitySums("a"); endpoints {
		t.Error("endpoint stats sent without report_endpoint_granularity")
	}

	// Now b too, per endpoint. Its earlier traffic, from before it was
	// asked for, is not reported.
	srv.next <- &lrsv3.LoadStatsResponse{Clusters: []string{"a", "b"}, LoadReportingInterval: iv, ReportEndpointGranularity: true}
	// Until the reporter follows the new answer, b's traffic is left out:
	// send some until it is not.
	var sent uint64
	testenv.Eventually(t, 10*time.Second, "b's report", func() bool {
		if got, _ := rec.localitySums("b"); len(got) > 0 {
			return true
		}
		traffic(b.Balancer.Hosts()[0], 1, 1, 0, 1)
		sent++
		return false
	})
	if got, endpoints := rec.localitySums("b"); !endpoints || got["10.0.0.2"][0] > sent {
		t.Errorf("b reported %v (endpoint stats: %v), want at most %d requests with endpoint stats", got, endpoints, sent)
	}
	for _, req := range rec.requests() {
		for _, cs := range req.GetClusterStats() {
			if name := cs.GetClusterName(); name != "a" && name != "b" {
				t.Errorf("reported cluster %q, which has no LRS or was not asked for", name)
			}
		}
	}
}

func TestRunEnds(t *testing.T) {
	proxytest.NoLeaks(t)
	// Nothing listens: Run backs off between attempts, and still returns
	// at once when ctx ends.
	addr := testenv.FreeAddr(t)
	r := New(Config{Addr: addr, NodeID: "n", Clusters: newProxy(nil).clusters})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := r.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %v to end", d)
	}

	for name, cfg := range map[string]Config{
		"no address":  {NodeID: "n", Clusters: newProxy(nil).clusters},
		"no node id":  {Addr: addr, Clusters: newProxy(nil).clusters},
		"no clusters": {Addr: addr, NodeID: "n"},
	} {
		if err := New(cfg).Run(t.Context()); !errors.Is(err, errNoConfig) {
			t.Errorf("%s: Run = %v, want %v", name, err, errNoConfig)
		}
	}
}

func TestRunTwice(t *testing.T) {
	proxytest.NoLeaks(t)
	_, _, addr, _ := startLRS(t, "127.0.0.1:0")
	p := newProxy(nil)
	r := New(Config{Addr: addr, NodeID: "n", Clusters: p.clusters})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-p.called
	if err := r.Run(ctx); !errors.Is(err, errRunning) {
		t.Errorf("second Run = %v, want %v", err, errRunning)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestFromSnapshot(t *testing.T) {
	web, api := newCluster(ep("10.0.0.1:80")), newCluster(ep("10.0.0.2:80"))
	s := &xdsclient.Snapshot{
		Clusters: map[string]xdsclient.Cluster{
			"web":     {Name: "web", EDSName: "web-eds", LRS: true},
			"api":     {Name: "api", EDSName: "api"},
			"pending": {Name: "pending", EDSName: "pending"},
		},
		Endpoints: map[string][]xdsclient.Endpoint{"web-eds": web.Endpoints},
	}
	got := FromSnapshot(s, map[string]*balancer.Balancer{"web": web.Balancer, "api": api.Balancer, "stale": api.Balancer})
	if len(got) != 2 {
		t.Fatalf("FromSnapshot gave %d clusters, want web and api", len(got))
	}
	if w := got["web"]; w.EDSName != "web-eds" || !w.LRS || w.Balancer != web.Balancer ||
		len(w.Endpoints) != 1 || w.Endpoints[0].Addr != netip.MustParseAddrPort("10.0.0.1:80") {
		t.Errorf("web = %+v", w)
	}
	if a := got["api"]; a.EDSName != "api" || a.LRS || a.Balancer != api.Balancer || a.Endpoints != nil {
		t.Errorf("api = %+v", a)
	}
	if FromSnapshot(nil, nil) != nil {
		t.Error("FromSnapshot(nil) is not nil")
	}
}
