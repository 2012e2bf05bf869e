package balancer

import "time"

// HostStats are a host's counters since it was created: what a load report
// takes the difference of, one interval to the next.
type HostStats struct {
	// Issued counts Begin calls: connections or requests sent to the host.
	Issued uint64
	// Succeeded and Errors count Report(true) and Report(false) calls.
	Succeeded, Errors uint64
	// Active is the work begun and not ended now, as Active returns.
	Active int64
	// RTTSum and RTTCount total the response times Observe recorded.
	RTTSum   time.Duration
	RTTCount uint64
}

// Stats returns the host's counters. They are read one at a time while
// work goes on, outcomes first, so a request that began and finished during
// the call is never counted as finished but not issued.
func (h *Host) Stats() HostStats {
	var s HostStats
	s.RTTCount = h.rttCount.Load()
	s.RTTSum = time.Duration(h.rttSum.Load())
	s.Succeeded = h.succeeded.Load()
	s.Errors = h.errored.Load()
	ended := h.active.ended.Load()
	s.Issued = h.active.issued.Load()
	s.Active = int64(s.Issued - ended)
	return s
}
