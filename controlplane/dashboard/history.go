package dashboard

import (
	"sync"
	"time"
)

// HistoryLen is how many samples of each endpoint the dashboard keeps:
// one a second, the last three minutes.
const HistoryLen = 180

// sample is one endpoint's weight and mean latency (seconds) at a moment.
type sample struct {
	weight  uint32
	latency float64
}

// history keeps the last HistoryLen samples of every current endpoint IP.
type history struct {
	mu    sync.Mutex
	rings map[string]*ring
}

type ring struct {
	t    [HistoryLen]int64 // unix milliseconds
	s    [HistoryLen]sample
	n    int // samples held
	next int // where the next one goes
}

func newHistory() *history { return &history{rings: map[string]*ring{}} }

// record adds a sample of every endpoint in samples at now and forgets the
// endpoints that are gone.
func (h *history) record(now time.Time, samples map[string]sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ip := range h.rings {
		if _, ok := samples[ip]; !ok {
			delete(h.rings, ip)
		}
	}
	ms := now.UnixMilli()
	for ip, s := range samples {
		r := h.rings[ip]
		if r == nil {
			r = &ring{}
			h.rings[ip] = r
		}
		r.t[r.next], r.s[r.next] = ms, s
		r.next = (r.next + 1) % HistoryLen
		r.n = min(r.n+1, HistoryLen)
	}
}

// point is a sample as the page reads it: [unix ms, weight, latency s].
type point [3]float64

// series returns the samples of each of ips, oldest first.
func (h *history) series(ips []string) map[string][]point {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]point, len(ips))
	for _, ip := range ips {
		r := h.rings[ip]
		if r == nil {
			out[ip] = []point{}
			continue
		}
		ps := make([]point, 0, r.n)
		for i := range r.n {
			j := (r.next - r.n + i + HistoryLen) % HistoryLen
			ps = append(ps, point{float64(r.t[j]), float64(r.s[j].weight), r.s[j].latency})
		}
		out[ip] = ps
	}
	return out
}
