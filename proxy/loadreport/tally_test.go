package loadreport

import (
	"net/netip"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/xdsclient"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ep is an endpoint as Shoal's EDS gives it: its own locality, sub_zone =
// its IP.
func ep(addr string) xdsclient.Endpoint {
	a := netip.MustParseAddrPort(addr)
	return xdsclient.Endpoint{Addr: a, Weight: 1, Region: "shoal", SubZone: a.Addr().String()}
}

// newCluster returns an LRS cluster of eps with its balancer.
func newCluster(eps ...xdsclient.Endpoint) ClusterInfo {
	b := balancer.New(balancer.Options{ConsecutiveFailures: -1})
	update(b, eps)
	return ClusterInfo{EDSName: "eds", LRS: true, Endpoints: eps, Balancer: b}
}

func update(b *balancer.Balancer, eps []xdsclient.Endpoint) {
	bs := make([]balancer.Endpoint, len(eps))
	for i, e := range eps {
		bs[i] = balancer.Endpoint{Addr: e.Addr, Weight: e.Weight}
	}
	b.Update(bs)
}

func host(c ClusterInfo, addr string) *balancer.Host {
	for _, h := range c.Balancer.Hosts() {
		if h.Addr() == netip.MustParseAddrPort(addr) {
			return h
		}
	}
	panic("no host " + addr)
}

// traffic records on h: issued, succeeded, errors, then ended (of the
// issued, the rest stays in progress).
func traffic(h *balancer.Host, issued, ok, failed, ended int) {
	for range issued {
		h.Begin()
	}
	for range ok {
		h.Report(true)
	}
	for range failed {
		h.Report(false)
	}
	for range ended {
		h.End()
	}
}

var all = request{all: true, endpoints: true}

// step reads, builds and commits one report a second after the last.
func step(tl *tally, infos map[string]ClusterInfo, r request) []*endpointv3.ClusterStats {
	tl.read(infos)
	now := tl.since.Add(time.Second)
	out := tl.build(r, now)
	tl.commit(now)
	return out
}

// same compares reports written as prototext ClusterStats, one per string.
func same(t *testing.T, got []*endpointv3.ClusterStats, want ...string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		w := &endpointv3.ClusterStats{}
		if err := prototext.Unmarshal([]byte(want[i]), w); err != nil {
			t.Fatalf("want[%d]: %v", i, err)
		}
		ok = proto.Equal(got[i], w)
	}
	if !ok {
		t.Errorf("got %d cluster stats:", len(got))
		for _, cs := range got {
			t.Errorf("  %v", prototext.Format(cs))
		}
		t.Errorf("want %d:\n%v", len(want), want)
	}
}

const interval1s = `load_report_interval {seconds: 1}`

func TestTallyDeltas(t *testing.T) {
	web := newCluster(ep("10.0.0.1:80"), ep("10.0.0.2:80"))
	infos := map[string]ClusterInfo{"web": web}
	tl := newTally()
	tl.read(infos)
	tl.commit(t0)

	traffic(host(web, "10.0.0.1:80"), 10, 7, 2, 8)
	traffic(host(web, "10.0.0.2:80"), 1, 1, 0, 1)
	same(t, step(tl, infos, all), `cluster_name: "web" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.1"}
			total_issued_requests: 10 total_successful_requests: 7 total_error_requests: 2 total_requests_in_progress: 2
			upstream_endpoint_stats {
				address {socket_address {address: "10.0.0.1" port_value: 80}}
				total_issued_requests: 10 total_successful_requests: 7 total_error_requests: 2 total_requests_in_progress: 2
			}
		}
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.2"}
			total_issued_requests: 1 total_successful_requests: 1
			upstream_endpoint_stats {
				address {socket_address {address: "10.0.0.2" port_value: 80}}
				total_issued_requests: 1 total_successful_requests: 1
			}
		}`)

	// Only what is new: 10.0.0.2 had nothing, 10.0.0.1 still has two in
	// progress, one of which ends well.
	traffic(host(web, "10.0.0.1:80"), 0, 1, 0, 1)
	same(t, step(tl, infos, all), `cluster_name: "web" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.1"}
			total_successful_requests: 1 total_requests_in_progress: 1
			upstream_endpoint_stats {
				address {socket_address {address: "10.0.0.1" port_value: 80}}
				total_successful_requests: 1 total_requests_in_progress: 1
			}
		}`)

	// Nothing at all: no cluster stats.
	host(web, "10.0.0.1:80").End()
	step(tl, infos, all)
	same(t, step(tl, infos, all))

	// Not sent (the stream failed): the next report carries both
	// intervals' counts over both intervals.
	traffic(host(web, "10.0.0.2:80"), 3, 3, 0, 3)
	tl.read(infos)
	tl.build(all, tl.since.Add(time.Second))
	traffic(host(web, "10.0.0.2:80"), 2, 2, 0, 2)
	tl.read(infos)
	got := tl.build(request{all: true}, tl.since.Add(2*time.Second))
	same(t, got, `cluster_name: "web" cluster_service_name: "eds" load_report_interval {seconds: 2}
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.2"}
			total_issued_requests: 5 total_successful_requests: 5
		}`)
}

func TestTallyRemoved(t *testing.T) {
	web := newCluster(ep("10.0.0.1:80"), ep("10.0.0.2:80"))
	api := newCluster(ep("10.0.1.1:80"))
	infos := map[string]ClusterInfo{"web": web, "api": api}
	tl := newTally()
	tl.read(infos)
	tl.commit(t0)

	// 10.0.0.1 leaves EDS with work in progress, and "api" leaves the
	// configuration, between two reports.
	gone := host(web, "10.0.0.1:80")
	traffic(gone, 4, 3, 0, 3)
	traffic(host(api, "10.0.1.1:80"), 2, 2, 0, 2)
	web.Endpoints = web.Endpoints[1:]
	update(web.Balancer, web.Endpoints)
	infos = map[string]ClusterInfo{"web": web}
	same(t, step(tl, infos, all), `cluster_name: "api" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.1.1"}
			total_issued_requests: 2 total_successful_requests: 2
			upstream_endpoint_stats {
				address {socket_address {address: "10.0.1.1" port_value: 80}}
				total_issued_requests: 2 total_successful_requests: 2
			}
		}`, `cluster_name: "web" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.1"}
			total_issued_requests: 4 total_successful_requests: 3 total_requests_in_progress: 1
			upstream_endpoint_stats {
				address {socket_address {address: "10.0.0.1" port_value: 80}}
				total_issued_requests: 4 total_successful_requests: 3 total_requests_in_progress: 1
			}
		}`)

	// The removed host keeps its locality and is reported until it is
	// idle for a whole interval; the gone cluster was idle in this one.
	traffic(gone, 0, 1, 0, 1)
	same(t, step(tl, infos, all), `cluster_name: "web" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.1"}
			total_successful_requests: 1
			upstream_endpoint_stats {
				address {socket_address {address: "10.0.0.1" port_value: 80}}
				total_successful_requests: 1
			}
		}`)
	if len(tl.clusters["web"].hosts) != 2 {
		t.Fatalf("forgot a removed host too soon: %d web hosts", len(tl.clusters["web"].hosts))
	}
	if tl.clusters["api"] != nil {
		t.Errorf("kept a gone cluster idle for a whole interval")
	}
	same(t, step(tl, infos, all))
	if len(tl.clusters["web"].hosts) != 1 {
		t.Errorf("kept an idle removed host: %d web hosts", len(tl.clusters["web"].hosts))
	}

	// An address removed with work in progress and added back is a new
	// host, reported under one entry with what the old one still does.
	old := host(web, "10.0.0.2:80")
	old.Begin()
	update(web.Balancer, nil)
	update(web.Balancer, web.Endpoints)
	if host(web, "10.0.0.2:80") == old {
		t.Fatal("setup: the balancer kept the host across its removal")
	}
	traffic(host(web, "10.0.0.2:80"), 1, 1, 0, 1)
	same(t, step(tl, infos, all), `cluster_name: "web" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.2"}
			total_issued_requests: 2 total_successful_requests: 1 total_requests_in_progress: 1
			upstream_endpoint_stats {
				address {socket_address {address: "10.0.0.2" port_value: 80}}
				total_issued_requests: 2 total_successful_requests: 1 total_requests_in_progress: 1
			}
		}`)
}

func TestTallySelects(t *testing.T) {
	a, b, off := newCluster(ep("10.0.0.1:80")), newCluster(ep("10.0.0.2:80")), newCluster(ep("10.0.0.3:80"))
	off.LRS = false
	infos := map[string]ClusterInfo{"a": a, "b": b, "off": off}
	tl := newTally()
	tl.read(infos)
	tl.commit(t0)
	for _, c := range []ClusterInfo{a, b, off} {
		traffic(c.Balancer.Hosts()[0], 1, 1, 0, 1)
	}
	// Only what is asked for, never a cluster without LRS, and only
	// locality totals when endpoint granularity is not asked for.
	same(t, step(tl, infos, request{clusters: map[string]bool{"b": true, "off": true}}),
		`cluster_name: "b" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.2"}
			total_issued_requests: 1 total_successful_requests: 1
		}`)
	// A cluster asked for later starts from when it was last left out.
	traffic(a.Balancer.Hosts()[0], 2, 2, 0, 2)
	same(t, step(tl, infos, request{clusters: map[string]bool{"a": true}}),
		`cluster_name: "a" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.1"}
			total_issued_requests: 2 total_successful_requests: 2
		}`)
}

// TestTallyLatency: the response times hosts observed in an interval go
// out as the load metric api.LRSLatencyMetric, per endpoint and locality.
func TestTallyLatency(t *testing.T) {
	web := newCluster(ep("10.0.0.1:80"))
	infos := map[string]ClusterInfo{"web": web}
	tl := newTally()
	tl.read(infos)
	tl.commit(t0)
	h := host(web, "10.0.0.1:80")
	traffic(h, 2, 2, 0, 2)
	h.Observe(20 * time.Millisecond)
	h.Observe(30 * time.Millisecond)
	metric := `load_metric_stats {metric_name: "shoal.io/latency_seconds" num_requests_finished_with_metric: 2 total_metric_value: 0.05}`
	same(t, step(tl, infos, all), `cluster_name: "web" cluster_service_name: "eds" `+interval1s+`
		upstream_locality_stats {
			locality {region: "shoal" sub_zone: "10.0.0.1"}
			total_issued_requests: 2 total_successful_requests: 2
			`+metric+`
			upstream_endpoint_stats {
				address {socket_address {address: "10.0.0.1" port_value: 80}}
				total_issued_requests: 2 total_successful_requests: 2
				`+metric+`
			}
		}`)
}
