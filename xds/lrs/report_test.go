package lrs

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/xds/load"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// counts for a locality or endpoint: issued, succeeded, errors, in progress.
type n4 [4]uint64

// locality is grpc-go's report of one endpoint: its own locality, sub_zone
// = IP.
func locality(subZone string, c n4) *endpointv3.UpstreamLocalityStats {
	return &endpointv3.UpstreamLocalityStats{
		Locality:            &corev3.Locality{Region: "shoal", SubZone: subZone},
		TotalIssuedRequests: c[0], TotalSuccessfulRequests: c[1], TotalErrorRequests: c[2], TotalRequestsInProgress: c[3],
	}
}

// envoyLocality is Envoy's report with endpoint granularity: locality
// totals plus one entry per endpoint address.
func envoyLocality(zone string, total n4, eps ...*endpointv3.UpstreamEndpointStats) *endpointv3.UpstreamLocalityStats {
	ls := locality("", total)
	ls.Locality.Zone = zone
	ls.UpstreamEndpointStats = eps
	return ls
}

func endpointStats(ip string, port uint32, c n4) *endpointv3.UpstreamEndpointStats {
	return &endpointv3.UpstreamEndpointStats{
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}},
		TotalIssuedRequests: c[0], TotalSuccessfulRequests: c[1], TotalErrorRequests: c[2], TotalRequestsInProgress: c[3],
	}
}

func cluster(name string, interval time.Duration, ls ...*endpointv3.UpstreamLocalityStats) *endpointv3.ClusterStats {
	return &endpointv3.ClusterStats{ClusterName: name, LoadReportInterval: durationpb.New(interval), UpstreamLocalityStats: ls}
}

func report(cs ...*endpointv3.ClusterStats) *lrsv3.LoadStatsRequest {
	return &lrsv3.LoadStatsRequest{ClusterStats: cs}
}

const echo = "echo.default.svc.cluster.local:8080"

// sameLoads compares snapshots with a tolerance for float rounding.
func sameLoads(got, want map[string]load.Load) bool {
	if len(got) != len(want) {
		return false
	}
	for ip, w := range want {
		g, ok := got[ip]
		if !ok || g.Reporters != w.Reporters || g.CPU != w.CPU {
			return false
		}
		for _, p := range [][2]float64{{g.RPS, w.RPS}, {g.InFlight, w.InFlight}, {g.ErrorRate, w.ErrorRate}} {
			if math.Abs(p[0]-p[1]) > 1e-9 {
				return false
			}
		}
	}
	return true
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name                    string
		reqs                    []*lrsv3.LoadStatsRequest // one a second from t0
		want                    map[string]load.Load      // after the last
		malformed, unattributed float64
	}{{
		name: "grpc-go: one locality per endpoint",
		reqs: []*lrsv3.LoadStatsRequest{report(cluster(echo, time.Second,
			locality("127.0.0.2", n4{10, 8, 2, 3}),
			locality("127.0.0.3", n4{5, 5, 0, 1}),
		))},
		want: map[string]load.Load{
			"127.0.0.2": {RPS: 10, InFlight: 3, ErrorRate: 0.2, CPU: -1, Reporters: 1},
			"127.0.0.3": {RPS: 5, InFlight: 1, CPU: -1, Reporters: 1},
		},
	}, {
		name: "Envoy: endpoint stats win over locality totals",
		reqs: []*lrsv3.LoadStatsRequest{report(cluster(echo, 2*time.Second,
			envoyLocality("zone-a", n4{999, 999, 0, 99},
				endpointStats("10.0.0.5", 8080, n4{20, 20, 0, 4}),
				endpointStats("fd00:0::1", 8080, n4{2, 1, 1, 0}),
			),
		))},
		want: map[string]load.Load{
			"10.0.0.5": {RPS: 10, InFlight: 4, CPU: -1, Reporters: 1},
			"fd00::1":  {RPS: 1, ErrorRate: 0.5, CPU: -1, Reporters: 1},
		},
	}, {
		name: "an IP in two clusters is summed",
		reqs: []*lrsv3.LoadStatsRequest{report(
			cluster(echo, time.Second, locality("127.0.0.2", n4{10, 10, 0, 1})),
			cluster("other.default.svc.cluster.local:80", time.Second, locality("127.0.0.2", n4{20, 20, 0, 2})),
		)},
		want: map[string]load.Load{"127.0.0.2": {RPS: 30, InFlight: 3, CPU: -1, Reporters: 1}},
	}, {
		name: "a newer report replaces the older",
		reqs: []*lrsv3.LoadStatsRequest{
			report(cluster(echo, time.Second, locality("127.0.0.2", n4{10, 10, 0, 7}))),
			report(cluster(echo, time.Second, locality("127.0.0.2", n4{4, 4, 0, 1}))),
		},
		want: map[string]load.Load{"127.0.0.2": {RPS: 4, InFlight: 1, CPU: -1, Reporters: 1}},
	}, {
		name: "an IP left out of a report is idle",
		reqs: []*lrsv3.LoadStatsRequest{
			report(cluster(echo, time.Second, locality("127.0.0.2", n4{10, 10, 0, 7}), locality("127.0.0.3", n4{1, 1, 0, 1}))),
			report(cluster(echo, time.Second, locality("127.0.0.3", n4{1, 1, 0, 1}))),
			report(),
		},
		want: map[string]load.Load{
			"127.0.0.2": {CPU: -1, Reporters: 1},
			"127.0.0.3": {CPU: -1, Reporters: 1},
		},
	}, {
		name: "an IP reported with nonsense is not taken for idle",
		reqs: []*lrsv3.LoadStatsRequest{
			report(cluster(echo, time.Second, locality("127.0.0.2", n4{10, 10, 0, 7}))),
			report(cluster(echo, time.Second, locality("127.0.0.2", n4{10, 10, 0, math.MaxUint64}))),
		},
		want:      map[string]load.Load{"127.0.0.2": {RPS: 10, InFlight: 7, CPU: -1, Reporters: 1}},
		malformed: 1,
	}, {
		name: "parts naming no IP are unattributed",
		reqs: []*lrsv3.LoadStatsRequest{report(cluster(echo, time.Second,
			locality("zone-a", n4{1, 1, 0, 0}),
			&endpointv3.UpstreamLocalityStats{TotalIssuedRequests: 5}, // no locality at all
			envoyLocality("z", n4{}, &endpointv3.UpstreamEndpointStats{TotalIssuedRequests: 3}),
			envoyLocality("z", n4{}, &endpointv3.UpstreamEndpointStats{Address: &corev3.Address{
				Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/sock"}}}}),
			envoyLocality("z", n4{}, endpointStats("backend.example", 80, n4{1, 1, 0, 0})),
			locality("127.0.0.2", n4{1, 1, 0, 0}),
		))},
		want:         map[string]load.Load{"127.0.0.2": {RPS: 1, CPU: -1, Reporters: 1}},
		unattributed: 5,
	}, {
		name: "malformed parts are ignored, the rest kept",
		reqs: []*lrsv3.LoadStatsRequest{report(
			nil,
			cluster(echo, time.Second,
				nil,
				locality("127.0.0.9", n4{math.MaxUint64, 0, 0, 0}),     // a counter wrapped below zero
				locality("127.0.0.9", n4{1, 1, 0, math.MaxUint64 - 1}), // in progress wrapped
				locality("127.0.0.9", n4{1e9, 0, 0, 0}),                // 1e9 requests in 1 s
				envoyLocality("z", n4{}, nil, endpointStats("10.0.0.5", 80, n4{2, 2, 0, 1})),
				locality("127.0.0.2", n4{3, 3, 0, 1}),
			),
			&endpointv3.ClusterStats{ClusterName: echo, UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{ // no interval: the stream's is used
				locality("127.0.0.3", n4{1, 1, 0, 0})}},
			&endpointv3.ClusterStats{ClusterName: echo, LoadReportInterval: &durationpb.Duration{Seconds: -1}, UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{
				locality("127.0.0.8", n4{1, 1, 0, 0})}},
			&endpointv3.ClusterStats{ClusterName: echo, LoadReportInterval: &durationpb.Duration{Seconds: 1, Nanos: -1}, UpstreamLocalityStats: []*endpointv3.UpstreamLocalityStats{
				locality("127.0.0.8", n4{1, 1, 0, 0})}},
			cluster(echo, 0, locality("127.0.0.8", n4{1, 1, 0, 0})),
			cluster(echo, 48*time.Hour, locality("127.0.0.8", n4{1, 1, 0, 0})),
		)},
		want: map[string]load.Load{
			"127.0.0.2": {RPS: 3, InFlight: 1, CPU: -1, Reporters: 1},
			"10.0.0.5":  {RPS: 2, InFlight: 1, CPU: -1, Reporters: 1},
			"127.0.0.3": {RPS: 1, CPU: -1, Reporters: 1},
		},
		malformed: 11,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			tb := load.NewTable()
			st := newStream("node#1", "node", tb, time.Second, log)
			mal, unattr := testutil.ToFloat64(malformedTotal), testutil.ToFloat64(unattributedTotal)
			now := t0
			for i, r := range tc.reqs {
				now = t0.Add(time.Duration(i) * time.Second)
				st.handle(r, now)
			}
			if got := tb.Snapshot(now); !sameLoads(got, tc.want) {
				t.Errorf("snapshot:\n got %v\nwant %v", got, tc.want)
			}
			if got := testutil.ToFloat64(malformedTotal) - mal; got != tc.malformed {
				t.Errorf("malformed parts counted: %v, want %v", got, tc.malformed)
			}
			if got := testutil.ToFloat64(unattributedTotal) - unattr; got != tc.unattributed {
				t.Errorf("unattributed parts counted: %v, want %v", got, tc.unattributed)
			}
			// Each kind of complaint is logged at most once per stream.
			for _, msg := range []string{"malformed", "name no endpoint"} {
				if c := strings.Count(logs.String(), msg); c > 1 {
					t.Errorf("%q logged %d times:\n%s", msg, c, logs.String())
				}
			}
			if tc.malformed > 0 && !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("malformed report not logged at warn:\n%s", logs.String())
			}
		})
	}
}

func TestHandleIdleExpires(t *testing.T) {
	tb := load.NewTable()
	st := newStream("node#1", "node", tb, time.Second, slog.New(slog.DiscardHandler))
	st.handle(report(cluster(echo, time.Second, locality("127.0.0.2", n4{10, 10, 0, 5}))), t0)
	// Reports that leave the IP out keep it idle for idleHold...
	var now time.Time
	for s := time.Second; s <= idleHold; s += time.Second {
		now = t0.Add(s)
		st.handle(report(), now)
	}
	if l, ok := tb.Snapshot(now)["127.0.0.2"]; !ok || l.InFlight != 0 || l.Reporters != 1 {
		t.Errorf("after %v left out: %+v (present %v), want idle from 1 reporter", idleHold, l, ok)
	}
	// ...then let it expire, and stop tracking it.
	for s := idleHold + time.Second; s <= idleHold+load.MinSampleAge+2*time.Second; s += time.Second {
		now = t0.Add(s)
		st.handle(report(), now)
	}
	if l, ok := tb.Snapshot(now)["127.0.0.2"]; ok {
		t.Errorf("long after it was last reported: %+v, want gone", l)
	}
	if len(st.seen) != 0 {
		t.Errorf("stream still tracks %v", st.seen)
	}
}

// TestHandleLatencyMetric: the response times Shoal's proxy reports as
// the load metric api.LRSLatencyMetric become the endpoint's mean latency,
// over reporters and clusters; other metrics and nonsense are ignored.
func TestHandleLatencyMetric(t *testing.T) {
	tb := load.NewTable()
	timed := func(es *endpointv3.UpstreamEndpointStats, n uint64, sum float64) *endpointv3.UpstreamEndpointStats {
		es.LoadMetricStats = append(es.LoadMetricStats,
			&endpointv3.EndpointLoadMetricStats{MetricName: "cpu_utilization", NumRequestsFinishedWithMetric: 5, TotalMetricValue: 99},
			&endpointv3.EndpointLoadMetricStats{MetricName: api.LRSLatencyMetric, NumRequestsFinishedWithMetric: n, TotalMetricValue: sum})
		return es
	}
	a := newStream("proxy-a#1", "proxy-a", tb, time.Second, slog.New(slog.DiscardHandler))
	b := newStream("proxy-b#1", "proxy-b", tb, time.Second, slog.New(slog.DiscardHandler))
	a.handle(report(cluster(echo, time.Second, envoyLocality("", n4{},
		timed(endpointStats("10.1.0.1", 8080, n4{10, 10, 0, 1}), 10, 0.2),   // 20 ms
		timed(endpointStats("10.1.0.2", 8080, n4{10, 10, 0, 0}), 10, -1)))), // nonsense: ignored
		t0)
	b.handle(report(cluster("other:80", time.Second, envoyLocality("", n4{},
		timed(endpointStats("10.1.0.1", 80, n4{30, 30, 0, 1}), 30, 1.8)))), // 60 ms
		t0)
	snap := tb.Snapshot(t0)
	if got := snap["10.1.0.1"].Latency; math.Abs(got-0.05) > 1e-9 {
		t.Errorf("10.1.0.1 latency %v s, want the mean over both reporters, 0.05", got)
	}
	if got := snap["10.1.0.2"].Latency; got != 0 {
		t.Errorf("10.1.0.2 latency %v from a negative total, want none (0)", got)
	}
}
