package lrs

import (
	"log/slog"
	"net/netip"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/xds/load"
)

// Limits past which a report is nonsense rather than load: a counter that
// wrapped below zero in the client (grpc-go's in-progress count is an
// unsigned atomic) reads as about 1.8e19.
const (
	maxRate       = 1e7 // requests per second, per endpoint and reporter
	maxInProgress = 1e7
	// maxLatencySum bounds the seconds of response times in one report
	// (10^7 requests of an hour each).
	maxLatencySum = 3.6e10
	minInterval   = time.Millisecond
	maxInterval   = time.Hour
)

// idleHold is how long an IP that a reporter stops mentioning counts as idle
// (zero load from that reporter) before it is left to expire. grpc-go and
// Envoy leave out localities and endpoints that had no requests in the
// interval, so without this a pod that stops receiving traffic would keep
// its last busy sample until the table expires it.
const idleHold = 30 * time.Second

// stream is one LRS stream's view of its reporter: it turns each
// LoadStatsRequest into one sample per endpoint IP in the table.
type stream struct {
	reporter string // node id + "#" + per-server sequence
	node     string
	table    *load.Table
	fallback time.Duration // the interval asked for, for reports that omit theirs
	log      *slog.Logger

	sum  map[string]load.Sample // this request's totals by IP, reused
	bad  map[string]bool        // IPs with absurd counts in this request, reused
	seen map[string]time.Time   // IPs this reporter mentioned, and when last

	warned, noted bool // logged a malformed / unattributed report already
}

func newStream(reporter, node string, table *load.Table, fallback time.Duration, log *slog.Logger) *stream {
	return &stream{
		reporter: reporter, node: node, table: table, fallback: fallback, log: log,
		sum: map[string]load.Sample{}, bad: map[string]bool{}, seen: map[string]time.Time{},
	}
}

// counts is one locality's or endpoint's stats in a report.
type counts struct {
	issued, succeeded, errors, inProgress uint64
	// timed requests took latencySum seconds (api.LRSLatencyMetric).
	timed      uint64
	latencySum float64
}

// latency reads the api.LRSLatencyMetric load metric, if reported.
func latency(stats []*endpointv3.EndpointLoadMetricStats) (timed uint64, sum float64) {
	for _, m := range stats {
		if m.GetMetricName() == api.LRSLatencyMetric {
			timed += m.GetNumRequestsFinishedWithMetric()
			sum += m.GetTotalMetricValue()
		}
	}
	return timed, sum
}

// handle records one request's load in the table. Stats for the same IP
// (the same pod in several clusters, or listed twice) are summed; IPs the
// reporter mentioned before but not now are recorded as idle.
func (st *stream) handle(req *lrsv3.LoadStatsRequest, now time.Time) {
	clear(st.sum)
	clear(st.bad)
	var longest time.Duration
	for _, cs := range req.GetClusterStats() {
		if cs == nil {
			st.malformed("nil cluster_stats")
			continue
		}
		iv, ok := st.interval(cs.GetLoadReportInterval(), cs.GetClusterName())
		if !ok {
			continue
		}
		longest = max(longest, iv)
		for _, ls := range cs.GetUpstreamLocalityStats() {
			if ls == nil {
				st.malformed("nil upstream_locality_stats")
				continue
			}
			if eps := ls.GetUpstreamEndpointStats(); len(eps) > 0 {
				// Envoy, asked for endpoint granularity: attribute each
				// endpoint, never the locality's totals as well.
				for _, es := range eps {
					if es == nil {
						st.malformed("nil upstream_endpoint_stats")
						continue
					}
					ip, ok := socketIP(es.GetAddress())
					if !ok {
						st.unattributed(cs.GetClusterName(), "upstream_endpoint_stats.address is not an IP socket address")
						continue
					}
					timed, sum := latency(es.GetLoadMetricStats())
					st.add(ip, counts{es.GetTotalIssuedRequests(), es.GetTotalSuccessfulRequests(),
						es.GetTotalErrorRequests(), es.GetTotalRequestsInProgress(), timed, sum}, iv, cs.GetClusterName())
				}
				continue
			}
			// grpc-go: Shoal's EDS puts each endpoint in its own locality
			// whose sub_zone is the endpoint's IP.
			addr, err := netip.ParseAddr(ls.GetLocality().GetSubZone())
			if err != nil {
				st.unattributed(cs.GetClusterName(), "locality.sub_zone is not an IP")
				continue
			}
			timed, sum := latency(ls.GetLoadMetricStats())
			st.add(addr.String(), counts{ls.GetTotalIssuedRequests(), ls.GetTotalSuccessfulRequests(),
				ls.GetTotalErrorRequests(), ls.GetTotalRequestsInProgress(), timed, sum}, iv, cs.GetClusterName())
		}
	}
	for ip, s := range st.sum {
		st.table.Add(st.reporter, ip, s, now)
		st.seen[ip] = now
	}
	if longest == 0 {
		longest = st.fallback
	}
	for ip, at := range st.seen {
		if _, ok := st.sum[ip]; ok || st.bad[ip] {
			// Reported now, or reported with nonsense: not known idle.
			continue
		}
		if now.Sub(at) > idleHold {
			delete(st.seen, ip)
			continue
		}
		st.table.Add(st.reporter, ip, load.Sample{Interval: longest}, now)
	}
}

// interval returns a ClusterStats' load_report_interval, the stream's
// requested interval when it is missing, or false when it is unusable.
func (st *stream) interval(d *durationpb.Duration, cluster string) (time.Duration, bool) {
	if d == nil {
		st.malformed("load_report_interval is missing", "cluster", cluster)
		return st.fallback, true
	}
	if err := d.CheckValid(); err != nil {
		st.malformed("load_report_interval is invalid", "cluster", cluster, "error", err)
		return 0, false
	}
	iv := d.AsDuration()
	if iv < minInterval || iv > maxInterval {
		st.malformed("load_report_interval is out of range", "cluster", cluster, "interval", iv)
		return 0, false
	}
	return iv, true
}

// add sums c into ip's sample, unless c is absurd for interval iv.
func (st *stream) add(ip string, c counts, iv time.Duration, cluster string) {
	limit := uint64(maxRate * iv.Seconds())
	if c.issued > limit || c.succeeded > limit || c.errors > limit || c.inProgress > maxInProgress {
		st.malformed("absurd request counts", "cluster", cluster, "ip", ip,
			"issued", c.issued, "succeeded", c.succeeded, "errors", c.errors, "in_progress", c.inProgress)
		st.bad[ip] = true
		return
	}
	s := st.sum[ip]
	s.Issued += c.issued
	s.Succeeded += c.succeeded
	s.Errors += c.errors
	s.InProgress += c.inProgress
	if c.timed > 0 && c.timed <= limit && c.latencySum >= 0 && c.latencySum < maxLatencySum {
		s.Timed += c.timed
		s.LatencySum += c.latencySum
	}
	s.Interval = max(s.Interval, iv)
	st.sum[ip] = s
}

// socketIP returns the canonical IP of a socket address.
func socketIP(a *corev3.Address) (string, bool) {
	addr, err := netip.ParseAddr(a.GetSocketAddress().GetAddress())
	if err != nil {
		return "", false
	}
	return addr.String(), true
}

// malformed counts an ignored part of a report and logs the stream's first.
func (st *stream) malformed(msg string, attrs ...any) {
	malformedTotal.Inc()
	if st.warned {
		return
	}
	st.warned = true
	st.log.Warn("lrs: ignoring malformed part of a load report (logged once per stream)",
		append([]any{"node", st.node, "problem", msg}, attrs...)...)
}

// unattributed counts stats that name no endpoint and logs the stream's
// first at debug level: a client of another control plane's EDS reports
// per zone, which is not an error.
func (st *stream) unattributed(cluster, why string) {
	unattributedTotal.Inc()
	if st.noted {
		return
	}
	st.noted = true
	st.log.Debug("lrs: ignoring load stats that name no endpoint IP (logged once per stream)",
		"node", st.node, "cluster", cluster, "problem", why)
}
