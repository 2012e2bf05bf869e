package balancer

import (
	"math"
	"net/netip"
	"sync/atomic"
	"time"
)

// Host is one endpoint of a Balancer. The same *Host is kept across updates
// for as long as its address stays in the set, so a caller may hold it for
// the life of a connection even if the endpoint is removed meanwhile; its
// counters stay valid then, which is how a load report still gets the work
// that ended on a removed host.
//
// The fields are laid out in cache lines (a Host is 192 bytes, a size
// class of its own, so hosts never share a line): the first holds what a
// Pick reads and updates rarely change, the second the counters every
// request writes, the third the response-time totals for load reports.
type Host struct {
	addr     netip.AddrPort
	balancer *Balancer
	// ejectedUntil is the unix-nano time the current ejection ends (0: never
	// ejected). ejections counts ejections for the growing ejection time.
	ejectedUntil atomic.Int64
	weight       atomic.Uint32
	ejections    atomic.Int32
	draining     atomic.Bool
	_            [4]byte

	// active is read by Pick and written by Begin and End; the outcome
	// counters (see Stats) and the failure streak are written by Report,
	// just before End, so keeping them together costs no extra cache
	// traffic.
	active              work
	succeeded           atomic.Uint64
	errored             atomic.Uint64
	consecutiveFailures atomic.Int32
	// rtt is the response-time EWMA in nanoseconds (0: no sample yet), as
	// of rttAt (unix nanos); see Observe.
	rtt   atomic.Int64
	rttAt atomic.Int64
	_     [8]byte

	// rttSum (nanoseconds) and rttCount total the observed response times,
	// for load reports: the control plane's latency is the mean over an
	// interval.
	rttSum   atomic.Uint64
	rttCount atomic.Uint64
	_        [48]byte
}

// work counts the work begun and ended on a host. Counting both, rather
// than the active work, costs Begin and End one atomic add each as before
// and gives the issued count for load reports for nothing.
type work struct {
	issued, ended atomic.Uint64
}

func (w *work) begin() { w.issued.Add(1) }
func (w *work) end()   { w.ended.Add(1) }

// Load returns the work begun and not ended. ended is read first, so work
// that begins and ends meanwhile is not counted as ended only.
func (w *work) Load() int64 {
	e := w.ended.Load()
	return int64(w.issued.Load() - e)
}

// Addr is the endpoint's address.
func (h *Host) Addr() netip.AddrPort { return h.addr }

// Weight is the endpoint's weight in the latest update.
func (h *Host) Weight() uint32 { return h.weight.Load() }

// Draining reports whether the latest update marked the endpoint draining.
func (h *Host) Draining() bool { return h.draining.Load() }

// Active is the number of connections or requests begun and not ended.
func (h *Host) Active() int64 { return h.active.Load() }

// Begin counts one more active connection or request on the host.
func (h *Host) Begin() { h.active.begin() }

// End counts one active connection or request finished.
func (h *Host) End() { h.active.end() }

// RTTFade is the time constant over which a host's response-time
// estimate fades when it gets no samples, so a host once slow is tried
// again.
const RTTFade = 5 * time.Second

// rttWeight is the least weight of a new sample in the estimate: about the
// last eight responses count.
const rttWeight = 0.25

// Observe records one response time (request sent → response headers).
// The estimate is an EWMA of the samples, as linkerd's and Finagle's
// balancers keep (without their peak sensitivity: on a busy node every
// host has the odd slow response, and a peak that lingers for seconds made
// fast hosts look as slow as the slow one). A sample after a quiet spell
// weighs more (1 − e^(−quiet/RTTFade)), so the probe of a host whose
// estimate has faded sets it right at once. Least-request picks weigh
// active work by it, so a host 10× slower than its peers gets about a
// tenth of their concurrency instead of every request that finds it idle.
func (h *Host) Observe(d time.Duration) {
	if d <= 0 {
		d = 1
	}
	now := h.balancer.now()
	next := float64(d)
	if prev := h.rtt.Load(); prev != 0 {
		w := rttWeight
		// 1 − e^(−x) ≤ x: below rttWeight × RTTFade the quiet spell
		// cannot raise the weight, and the exponential is not needed.
		if age := now - h.rttAt.Load(); age > int64(rttWeight*float64(RTTFade)) {
			w = max(w, 1-math.Exp(-float64(age)/float64(RTTFade)))
		}
		next = float64(prev)*(1-w) + next*w
	}
	h.rtt.Store(max(1, int64(next)))
	h.rttAt.Store(now)
	h.rttSum.Add(uint64(d))
	h.rttCount.Add(1)
}

// RTT is the host's response-time estimate now (0 before any sample),
// faded by the time since the last one.
func (h *Host) RTT() time.Duration { return time.Duration(h.rttNow(h.balancer.now())) }

func (h *Host) rttNow(now int64) float64 {
	rtt := h.rtt.Load()
	if rtt == 0 {
		return 0
	}
	if age := now - h.rttAt.Load(); age > 0 {
		return float64(rtt) * fade(float64(age)/float64(RTTFade))
	}
	return float64(rtt)
}

// fade is e^(−x) for x ≥ 0. Every pick fades two estimates by the time
// since their last sample, which under load is microseconds: for x below
// 1e-3 the series 1 − x + x²/2 is within 2e-10 of the exponential (a
// sixth of x³) at a fraction of its cost.
func fade(x float64) float64 {
	if x < 1e-3 {
		return 1 - x + x*x/2
	}
	return math.Exp(-x)
}

// Ejected reports whether outlier detection has ejected the host now.
func (h *Host) Ejected() bool { return h.ejectedAt(h.balancer.now()) }

func (h *Host) ejectedAt(now int64) bool {
	until := h.ejectedUntil.Load()
	return until != 0 && now < until
}

// Report records the outcome of a connection or request, once per attempt:
// ok is false for a connect failure or an upstream error. It is counted in
// Stats and feeds passive outlier detection: after
// Options.ConsecutiveFailures failures in a row the host is ejected, unless
// that would exceed MaxEjectionPercent.
func (h *Host) Report(ok bool) {
	if ok {
		h.succeeded.Add(1)
		// Load first: a store on every success would bounce the cache line.
		if h.consecutiveFailures.Load() != 0 {
			h.consecutiveFailures.Store(0)
		}
		return
	}
	h.errored.Add(1)
	limit := h.balancer.opts.ConsecutiveFailures
	if limit > 0 && int(h.consecutiveFailures.Add(1)) >= limit {
		h.balancer.eject(h)
	}
}
