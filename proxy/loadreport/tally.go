package loadreport

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/proxy/balancer"
)

// tally turns the hosts' cumulative counters into per-interval reports: it
// keeps, per cluster, each host's counters as last reported, and the time
// they were read. It is pure (the caller passes the time) and used by one
// goroutine.
//
// Hosts are kept by pointer, not address: a host removed from its cluster
// (or a cluster gone from the configuration) is still read, so the work that
// ended on it after the last report is not lost, until it has been idle for
// a whole interval. A host removed and added again is a new *Host, reported
// beside the old one under the same address.
type tally struct {
	since    time.Time // when the committed counters were read
	clusters map[string]*clusterTally
}

type clusterTally struct {
	edsName string
	lrs     bool
	gone    bool // not in the configuration any more
	hosts   map[*balancer.Host]*hostTally
}

type hostTally struct {
	sent, now balancer.HostStats // as last committed, as last read
	loc       locality
	removed   bool // no longer in its cluster's current set
}

// locality is an endpoint's locality as EDS gave it.
type locality struct{ region, zone, subZone string }

func newTally() *tally { return &tally{clusters: map[string]*clusterTally{}} }

// read takes the current hosts of every cluster and their counters.
func (t *tally) read(infos map[string]ClusterInfo) {
	for _, ct := range t.clusters {
		// Unless infos has it, a cluster is gone from the configuration:
		// its hosts are reported as removed ones, under the settings it last
		// had.
		ct.gone = true
		for _, ht := range ct.hosts {
			ht.removed = true
		}
	}
	for name, info := range infos {
		ct := t.clusters[name]
		if ct == nil {
			ct = &clusterTally{hosts: map[*balancer.Host]*hostTally{}}
			t.clusters[name] = ct
		}
		ct.edsName, ct.lrs, ct.gone = info.EDSName, info.LRS, false
		if info.Balancer == nil {
			continue
		}
		var locs map[netip.AddrPort]locality
		for _, h := range info.Balancer.Hosts() {
			ht := ct.hosts[h]
			if ht == nil {
				// Created since the last read, which saw no such host, so
				// every count it has is new.
				ht = &hostTally{}
				ct.hosts[h] = ht
			}
			ht.removed = false
			if locs == nil {
				locs = localities(info)
			}
			if l, ok := locs[h.Addr()]; ok {
				ht.loc = l
			}
		}
	}
	for _, ct := range t.clusters {
		for h, ht := range ct.hosts {
			ht.now = h.Stats()
		}
	}
}

func localities(info ClusterInfo) map[netip.AddrPort]locality {
	m := make(map[netip.AddrPort]locality, len(info.Endpoints))
	for _, e := range info.Endpoints {
		m[e.Addr] = locality{e.Region, e.Zone, e.SubZone}
	}
	return m
}

// commit marks what was last read as reported (or, for clusters not
// reported, as the new starting point) at readAt, the time it was read. It
// forgets removed hosts that were idle for the whole interval, so that work
// begun on a host picked just before its removal is still counted, and
// clusters gone with no host left.
func (t *tally) commit(readAt time.Time) {
	for name, ct := range t.clusters {
		for h, ht := range ct.hosts {
			if ht.removed && ht.now == ht.sent && ht.now.Active <= 0 {
				delete(ct.hosts, h)
				continue
			}
			ht.sent = ht.now
		}
		if ct.gone && len(ct.hosts) == 0 {
			delete(t.clusters, name)
		}
	}
	t.since = readAt
}

// request is what to report: the clusters the server asked for.
type request struct {
	all      bool            // send_all_clusters
	clusters map[string]bool // otherwise, these
	// endpoints is report_endpoint_granularity: upstream_endpoint_stats
	// besides the locality totals.
	endpoints bool
}

func (r request) wants(cluster string) bool { return r.all || r.clusters[cluster] }

// build returns the stats since the last commit of every cluster that has
// LRS enabled and that r asks for, as read at readAt. Endpoints with nothing
// issued, finished or in progress are left out, as Envoy does, and so are
// clusters with nothing to report.
func (t *tally) build(r request, readAt time.Time) []*endpointv3.ClusterStats {
	iv := durationpb.New(readAt.Sub(t.since))
	var out []*endpointv3.ClusterStats
	for _, name := range slices.Sorted(maps.Keys(t.clusters)) {
		ct := t.clusters[name]
		if !ct.lrs || !r.wants(name) {
			continue
		}
		byLoc := map[locality]*endpointv3.UpstreamLocalityStats{}
		byAddr := map[locality]map[netip.AddrPort]*endpointv3.UpstreamEndpointStats{}
		for h, ht := range ct.hosts {
			d := delta(ht.sent, ht.now)
			if d == (counts{}) {
				continue
			}
			ls := byLoc[ht.loc]
			if ls == nil {
				ls = &endpointv3.UpstreamLocalityStats{Locality: &corev3.Locality{
					Region: ht.loc.region, Zone: ht.loc.zone, SubZone: ht.loc.subZone,
				}}
				byLoc[ht.loc] = ls
				byAddr[ht.loc] = map[netip.AddrPort]*endpointv3.UpstreamEndpointStats{}
			}
			ls.TotalIssuedRequests += d.issued
			ls.TotalSuccessfulRequests += d.succeeded
			ls.TotalErrorRequests += d.errors
			ls.TotalRequestsInProgress += d.inProgress
			ls.LoadMetricStats = addLatency(ls.LoadMetricStats, d)
			if !r.endpoints {
				continue
			}
			// One entry per address, even if two hosts share it.
			es := byAddr[ht.loc][h.Addr()]
			if es == nil {
				es = &endpointv3.UpstreamEndpointStats{Address: socketAddress(h.Addr())}
				byAddr[ht.loc][h.Addr()] = es
			}
			es.TotalIssuedRequests += d.issued
			es.TotalSuccessfulRequests += d.succeeded
			es.TotalErrorRequests += d.errors
			es.TotalRequestsInProgress += d.inProgress
			es.LoadMetricStats = addLatency(es.LoadMetricStats, d)
		}
		if len(byLoc) == 0 {
			continue
		}
		cs := &endpointv3.ClusterStats{ClusterName: name, ClusterServiceName: ct.edsName, LoadReportInterval: iv}
		// Stable order: easier to read in a dump and to test.
		for loc, ls := range byLoc {
			eps := byAddr[loc]
			for _, a := range slices.SortedFunc(maps.Keys(eps), netip.AddrPort.Compare) {
				ls.UpstreamEndpointStats = append(ls.UpstreamEndpointStats, eps[a])
			}
			cs.UpstreamLocalityStats = append(cs.UpstreamLocalityStats, ls)
		}
		slices.SortFunc(cs.UpstreamLocalityStats, func(a, b *endpointv3.UpstreamLocalityStats) int {
			la, lb := a.GetLocality(), b.GetLocality()
			return cmp.Or(cmp.Compare(la.GetRegion(), lb.GetRegion()), cmp.Compare(la.GetZone(), lb.GetZone()),
				cmp.Compare(la.GetSubZone(), lb.GetSubZone()))
		})
		out = append(out, cs)
	}
	return out
}

// counts are one host's load over an interval.
type counts struct {
	issued, succeeded, errors, inProgress uint64
	// rttCount responses took rttSum in all (see balancer.Host.Observe).
	rttCount uint64
	rttSum   time.Duration
}

// addLatency adds d's response times to the load metric api.LRSLatencyMetric
// of stats (the only one the proxy reports): the control plane's latency
// for an endpoint is its mean.
func addLatency(stats []*endpointv3.EndpointLoadMetricStats, d counts) []*endpointv3.EndpointLoadMetricStats {
	if d.rttCount == 0 {
		return stats
	}
	if len(stats) == 0 {
		stats = []*endpointv3.EndpointLoadMetricStats{{MetricName: api.LRSLatencyMetric}}
	}
	stats[0].NumRequestsFinishedWithMetric += d.rttCount
	stats[0].TotalMetricValue += d.rttSum.Seconds()
	return stats
}

// delta is the work between two reads of a host's counters; in progress is
// the later read's.
func delta(prev, cur balancer.HostStats) counts {
	return counts{
		issued:     cur.Issued - prev.Issued,
		succeeded:  cur.Succeeded - prev.Succeeded,
		errors:     cur.Errors - prev.Errors,
		inProgress: uint64(max(cur.Active, 0)),
		rttCount:   cur.RTTCount - prev.RTTCount,
		rttSum:     cur.RTTSum - prev.RTTSum,
	}
}

func socketAddress(a netip.AddrPort) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       a.Addr().String(),
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(a.Port())},
	}}}
}
