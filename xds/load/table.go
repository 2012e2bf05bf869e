package load

import (
	"sync"
	"time"

	"github.com/shoalmesh/shoal/api"
)

// MinSampleAge is the shortest time a sample counts for: a sample is ignored
// once it is older than max(3×its Interval, MinSampleAge), so a reporter that
// misses two reports in a row, or whose stream died, stops counting.
const MinSampleAge = 10 * time.Second

// CPUMaxAge is how long a CPU figure from SetCPU counts for.
const CPUMaxAge = 30 * time.Second

// Sample is what one reporter saw of one endpoint over one report interval.
type Sample struct {
	// Issued, Succeeded and Errors count requests over Interval.
	Issued, Succeeded, Errors uint64
	// InProgress is the number of requests in flight when the report was made.
	InProgress uint64
	// Timed requests took LatencySum seconds in all (a reporter that
	// measures response times: Shoal's proxy, as the load metric
	// api.LRSLatencyMetric).
	Timed      uint64
	LatencySum float64
	// Interval is the time the counts cover; a sample without one is ignored.
	Interval time.Duration
}

// Load is the cluster-wide load of one endpoint, summed over reporters:
// the shared format api.EndpointLoad, which xDS replicas publish in etcd.
type Load = api.EndpointLoad

// Table collects load samples from many reporters (LRS streams) and CPU
// figures from node agents, keyed by endpoint IP. It is safe for concurrent
// use. The zero Table is not usable; call NewTable.
//
// A reporter's sample of an IP is its total for that IP over one interval,
// already summed over the clusters (Services) the IP serves; each new sample
// replaces the reporter's previous one for that IP. IPs are compared as
// strings, so callers pass the canonical form (netip.Addr.String()).
type Table struct {
	mu        sync.Mutex
	reporters map[string]map[string]stamped
	cpu       map[string]cpuStamped
	acc       map[string]*accum // reused by Snapshot
}

type stamped struct {
	s  Sample
	at time.Time
}

type cpuStamped struct {
	cores float64
	at    time.Time
}

type accum struct {
	rps, inFlight, errRate, finRate float64
	timed, latencySum               float64
	reporters                       int
}

// NewTable returns an empty Table.
func NewTable() *Table {
	return &Table{
		reporters: map[string]map[string]stamped{},
		cpu:       map[string]cpuStamped{},
		acc:       map[string]*accum{},
	}
}

// Add records reporter's sample of ip, taken at now, replacing the
// reporter's previous sample of ip. A sample without a positive Interval is
// ignored.
func (t *Table) Add(reporter, ip string, s Sample, now time.Time) {
	if s.Interval <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.reporters[reporter]
	if m == nil {
		m = map[string]stamped{}
		t.reporters[reporter] = m
	}
	m[ip] = stamped{s, now}
}

// SetCPU records that the pod with ip used cores CPU cores, measured at now.
// A negative or non-finite figure forgets the IP's CPU.
func (t *Table) SetCPU(ip string, cores float64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !(cores >= 0 && cores < maxCores) {
		delete(t.cpu, ip)
		return
	}
	t.cpu[ip] = cpuStamped{cores, now}
}

// maxCores rejects nonsense (and +Inf, NaN fails >= 0) from a broken agent.
const maxCores = 1 << 20

// Forget drops every sample of reporter, for when its stream ends.
func (t *Table) Forget(reporter string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.reporters, reporter)
}

// Snapshot returns the current load of every IP that has a sample or a CPU
// figure younger than its maximum age. It also drops expired entries, so a
// table that is snapshotted regularly does not grow with pod churn.
func (t *Table) Snapshot(now time.Time) map[string]Load {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.acc {
		*a = accum{}
	}
	for r, m := range t.reporters {
		for ip, st := range m {
			if now.Sub(st.at) > max(3*st.s.Interval, MinSampleAge) {
				delete(m, ip)
				continue
			}
			a := t.acc[ip]
			if a == nil {
				a = &accum{}
				t.acc[ip] = a
			}
			sec := st.s.Interval.Seconds()
			a.rps += float64(st.s.Issued) / sec
			a.inFlight += float64(st.s.InProgress)
			a.errRate += float64(st.s.Errors) / sec
			a.finRate += (float64(st.s.Succeeded) + float64(st.s.Errors)) / sec
			a.timed += float64(st.s.Timed)
			a.latencySum += st.s.LatencySum
			a.reporters++
		}
		if len(m) == 0 {
			delete(t.reporters, r)
		}
	}
	out := make(map[string]Load, len(t.acc))
	for ip, a := range t.acc {
		if a.reporters == 0 {
			// No reporter mentions ip any more: stop carrying it.
			delete(t.acc, ip)
			continue
		}
		l := Load{RPS: a.rps, InFlight: a.inFlight, CPU: -1, Reporters: a.reporters}
		if a.finRate > 0 {
			l.ErrorRate = min(a.errRate/a.finRate, 1)
		}
		if a.timed > 0 {
			l.Latency = a.latencySum / a.timed
		}
		out[ip] = l
	}
	for ip, c := range t.cpu {
		if now.Sub(c.at) > CPUMaxAge {
			delete(t.cpu, ip)
			continue
		}
		l, ok := out[ip]
		if !ok {
			l = Load{}
		}
		l.CPU = c.cores
		out[ip] = l
	}
	return out
}
