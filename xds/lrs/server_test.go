package lrs

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/load"
)

// start serves LRS for table on 127.0.0.1:0 and returns a client of it.
func start(t *testing.T, table *load.Table, o Options) lrsv3.LoadReportingServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	New(table, o).Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return lrsv3.NewLoadReportingServiceClient(cc)
}

// open starts a stream as node and checks the server's answer.
func open(ctx context.Context, t *testing.T, c lrsv3.LoadReportingServiceClient, node string, interval time.Duration) lrsv3.LoadReportingService_StreamLoadStatsClient {
	t.Helper()
	s, err := c.StreamLoadStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&lrsv3.LoadStatsRequest{Node: &corev3.Node{Id: node}}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatalf("first response: %v", err)
	}
	if !resp.GetSendAllClusters() || len(resp.GetClusters()) != 0 || !resp.GetReportEndpointGranularity() {
		t.Errorf("response asks for %v clusters (all: %v), endpoint granularity %v; want all, with granularity",
			resp.GetClusters(), resp.GetSendAllClusters(), resp.GetReportEndpointGranularity())
	}
	if got := resp.GetLoadReportingInterval().AsDuration(); got != interval {
		t.Errorf("load_reporting_interval = %v, want %v", got, interval)
	}
	return s
}

func snapshotIs(tb *load.Table, want map[string]load.Load) func() bool {
	return func() bool { return sameLoads(tb.Snapshot(time.Now()), want) }
}

func TestStreamLoadStats(t *testing.T) {
	tb := load.NewTable()
	c := start(t, tb, Options{})
	s := open(t.Context(), t, c, "sidecar~10.244.0.7~web-1.default~default.svc.cluster.local", DefaultInterval)

	// grpc-go style: one locality per endpoint, sub_zone = IP.
	if err := s.Send(report(cluster(echo, time.Second,
		locality("127.0.0.2", n4{10, 8, 2, 3}),
		locality("127.0.0.3", n4{5, 5, 0, 1}),
	))); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the locality report", snapshotIs(tb, map[string]load.Load{
		"127.0.0.2": {RPS: 10, InFlight: 3, ErrorRate: 0.2, CPU: -1, Reporters: 1},
		"127.0.0.3": {RPS: 5, InFlight: 1, CPU: -1, Reporters: 1},
	}))

	// Envoy style: endpoint stats in a zone's locality. The IPs of the
	// previous report are left out, so they are now idle.
	if err := s.Send(report(cluster(echo, 2*time.Second,
		envoyLocality("zone-a", n4{22, 21, 1, 4},
			endpointStats("10.0.0.5", 8080, n4{20, 20, 0, 4}),
			endpointStats("10.0.0.6", 8080, n4{2, 1, 1, 0}),
		),
	))); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the endpoint report", snapshotIs(tb, map[string]load.Load{
		"127.0.0.2": {CPU: -1, Reporters: 1},
		"127.0.0.3": {CPU: -1, Reporters: 1},
		"10.0.0.5":  {RPS: 10, InFlight: 4, CPU: -1, Reporters: 1},
		"10.0.0.6":  {RPS: 1, ErrorRate: 0.5, CPU: -1, Reporters: 1},
	}))
}

func TestInterval(t *testing.T) {
	c := start(t, load.NewTable(), Options{Interval: 250 * time.Millisecond})
	open(t.Context(), t, c, "node", 250*time.Millisecond)
}

func TestNodeRequired(t *testing.T) {
	c := start(t, load.NewTable(), Options{})
	for name, node := range map[string]*corev3.Node{
		"no node":       nil,
		"empty node id": {Cluster: "web"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := c.StreamLoadStats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(&lrsv3.LoadStatsRequest{Node: node, ClusterStats: report(cluster(echo, time.Second,
				locality("127.0.0.2", n4{1, 1, 0, 0}))).ClusterStats}); err != nil {
				t.Fatal(err)
			}
			_, err = s.Recv()
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "lrs: node.id is empty") {
				t.Errorf("Recv = %v, want InvalidArgument naming node.id", err)
			}
		})
	}
}

func TestGarbageKeepsStreamUp(t *testing.T) {
	tb := load.NewTable()
	c := start(t, tb, Options{})
	s := open(t.Context(), t, c, "node", DefaultInterval)
	mal, unattr := testutil.ToFloat64(malformedTotal), testutil.ToFloat64(unattributedTotal)
	garbage := report(
		cluster(echo, time.Second,
			locality("127.0.0.9", n4{math.MaxUint64, 0, 0, 0}),
			locality("127.0.0.9", n4{0, 0, 0, math.MaxUint64}),
			locality("not-an-ip", n4{1, 1, 0, 0}),
			locality("", n4{1, 1, 0, 0}),
			&endpointv3.UpstreamLocalityStats{TotalIssuedRequests: 7}, // no locality
		),
		cluster(echo, -time.Second, locality("127.0.0.9", n4{1, 1, 0, 0})),
	)
	if err := s.Send(garbage); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(report(cluster(echo, time.Second, locality("127.0.0.2", n4{1, 1, 0, 1})))); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the good report after the garbage", snapshotIs(tb, map[string]load.Load{
		"127.0.0.2": {RPS: 1, InFlight: 1, CPU: -1, Reporters: 1},
	}))
	if got := testutil.ToFloat64(malformedTotal) - mal; got != 3 {
		t.Errorf("malformed parts counted: %v, want 3", got)
	}
	if got := testutil.ToFloat64(unattributedTotal) - unattr; got != 3 {
		t.Errorf("unattributed parts counted: %v, want 3", got)
	}
}

func TestStreamEndForgets(t *testing.T) {
	for _, how := range []string{"close send", "cancel"} {
		t.Run(how, func(t *testing.T) {
			tb := load.NewTable()
			c := start(t, tb, Options{})
			before := testutil.ToFloat64(streamsGauge)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s := open(ctx, t, c, "node", DefaultInterval)
			if err := s.Send(report(cluster(echo, time.Second, locality("127.0.0.2", n4{1, 1, 0, 1})))); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 10*time.Second, "the report", func() bool { return len(tb.Snapshot(time.Now())) == 1 })
			if got := testutil.ToFloat64(streamsGauge) - before; got != 1 {
				t.Errorf("streams gauge up by %v, want 1", got)
			}
			if how == "cancel" {
				cancel()
			} else {
				if err := s.CloseSend(); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Recv(); err == nil {
					t.Error("stream still open after CloseSend")
				}
			}
			testenv.Eventually(t, 10*time.Second, "the reporter to be forgotten", func() bool { return len(tb.Snapshot(time.Now())) == 0 })
			testenv.Eventually(t, 10*time.Second, "the streams gauge to drop", func() bool { return testutil.ToFloat64(streamsGauge) == before })
		})
	}
}

func TestConcurrentStreams(t *testing.T) {
	const streams, nodes = 100, 10
	tb := load.NewTable()
	c := start(t, tb, Options{})
	before := testutil.ToFloat64(streamsGauge)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	// Ten streams per node id: they add up rather than overwrite.
	var wg sync.WaitGroup
	open := make(chan lrsv3.LoadReportingService_StreamLoadStatsClient, streams)
	for i := range streams {
		wg.Go(func() {
			s, err := c.StreamLoadStats(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.Send(&lrsv3.LoadStatsRequest{Node: &corev3.Node{Id: fmt.Sprint("node-", i%nodes)}}); err != nil {
				t.Error(err)
				return
			}
			if _, err := s.Recv(); err != nil {
				t.Error(err)
				return
			}
			if err := s.Send(report(cluster(echo, time.Second,
				locality("10.1.0.1", n4{2, 2, 0, 1}),
				locality(fmt.Sprint("10.1.1.", i), n4{1, 1, 0, 1}),
			))); err != nil {
				t.Error(err)
				return
			}
			open <- s
		})
	}
	wg.Wait()
	close(open)
	if t.Failed() {
		return
	}
	testenv.Eventually(t, 10*time.Second, "every stream's report", func() bool {
		snap := tb.Snapshot(time.Now())
		l := snap["10.1.0.1"]
		return len(snap) == streams+1 && l.Reporters == streams && l.InFlight == streams && l.RPS == 2*streams
	})
	if got := testutil.ToFloat64(streamsGauge) - before; got != streams {
		t.Errorf("streams gauge up by %v, want %d", got, streams)
	}
	for s := range open {
		if err := s.CloseSend(); err != nil {
			t.Error(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "every stream to be forgotten", func() bool { return len(tb.Snapshot(time.Now())) == 0 })
	testenv.Eventually(t, 10*time.Second, "the streams gauge to drop", func() bool { return testutil.ToFloat64(streamsGauge) == before })
}

func TestRegisterMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if err := RegisterMetrics(reg); err != nil {
			t.Fatalf("RegisterMetrics: %v", err)
		}
	}
	streamsGauge.Add(0)
	n, err := testutil.GatherAndCount(reg, "shoal_xds_lrs_streams", "shoal_xds_lrs_reports_total",
		"shoal_xds_lrs_unattributed_total", "shoal_xds_lrs_malformed_total")
	if err != nil || n != 4 {
		t.Errorf("gathered %d of 4 metrics: %v", n, err)
	}
}
