package balancer

import (
	"net/netip"
	"sync/atomic"
)

// Host is one endpoint of a Cluster. The same *Host is kept across updates
// for as long as its address stays in the set, so a caller may hold it for
// the life of a connection even if the endpoint is removed meanwhile.
type Host struct {
	addr    netip.AddrPort
	cluster *Cluster

	// active is the hot counter; pad it so hosts allocated side by side do
	// not share a cache line.
	active atomic.Int64
	_      [56]byte

	weight   atomic.Uint32
	draining atomic.Bool

	consecutiveFailures atomic.Int32
	// ejectedUntil is the unix-nano time the current ejection ends (0: never
	// ejected). ejections counts ejections for the growing ejection time.
	ejectedUntil atomic.Int64
	ejections    atomic.Int32
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
func (h *Host) Begin() { h.active.Add(1) }

// End counts one active connection or request finished.
func (h *Host) End() { h.active.Add(-1) }

// Ejected reports whether outlier detection has ejected the host now.
func (h *Host) Ejected() bool { return h.ejectedAt(h.cluster.now()) }

func (h *Host) ejectedAt(now int64) bool {
	until := h.ejectedUntil.Load()
	return until != 0 && now < until
}

// Report feeds passive outlier detection: ok is false for a connect failure
// or an upstream error. After Options.ConsecutiveFailures failures in a row
// the host is ejected, unless that would exceed MaxEjectionPercent.
func (h *Host) Report(ok bool) {
	if ok {
		// Load first: a store on every success would bounce the cache line.
		if h.consecutiveFailures.Load() != 0 {
			h.consecutiveFailures.Store(0)
		}
		return
	}
	limit := h.cluster.opts.ConsecutiveFailures
	if limit > 0 && int(h.consecutiveFailures.Add(1)) >= limit {
		h.cluster.eject(h)
	}
}
