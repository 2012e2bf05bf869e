package balancer

import (
	"math/bits"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint is one upstream address as EDS gives it. A zero Weight counts
// as 1. A draining endpoint keeps its in-flight work but gets no new work.
type Endpoint struct {
	Addr     netip.AddrPort
	Weight   uint32
	Draining bool
}

// snapshot is one immutable endpoint set; Pick reads it without a lock.
type snapshot struct {
	hosts   []*Host  // every endpoint, in update order
	live    []*Host  // the pickable ones (not draining)
	weights []int64  // weights of live
	cum     []uint64 // cum[i] is the sum of weights[0..i]
	total   uint64
	uniform bool   // all live weights are equal
	stride  uint64 // round-robin step through [0,total), coprime with total

	// Vose alias table for O(1) weighted draws: slot i keeps host i with
	// probability keep[i]/2^32, else gives alias[i].
	keep  []uint64
	alias []int32
}

// Balancer holds the endpoints of one upstream (xDS) cluster and picks
// among them. Its methods are safe for concurrent use.
type Balancer struct {
	opts Options
	snap atomic.Pointer[snapshot]
	rr   atomic.Uint64

	// mu serializes the writers, Update and ejection; Pick never takes it.
	mu sync.Mutex
}

// New returns an empty balancer; Pick fails until Update adds endpoints.
func New(opts Options) *Balancer {
	b := &Balancer{opts: opts.withDefaults()}
	b.snap.Store(&snapshot{})
	return b
}

// Mode is the balancer's picking algorithm.
func (b *Balancer) Mode() Mode { return b.opts.Mode }

func (b *Balancer) now() int64 {
	if b.opts.Now != nil {
		return b.opts.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

// Update replaces the endpoint set. Hosts whose address stays keep their
// active counts and outlier state; duplicates and invalid addresses are
// dropped. Picks already running finish on the previous set.
func (b *Balancer) Update(eps []Endpoint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prev := b.snap.Load()
	old := make(map[netip.AddrPort]*Host, len(prev.hosts))
	for _, h := range prev.hosts {
		old[h.addr] = h
	}
	s := &snapshot{uniform: true}
	seen := make(map[netip.AddrPort]bool, len(eps))
	for _, ep := range eps {
		if !ep.Addr.IsValid() || seen[ep.Addr] {
			continue
		}
		seen[ep.Addr] = true
		h := old[ep.Addr]
		if h == nil {
			h = &Host{addr: ep.Addr, balancer: b}
		}
		w := max(ep.Weight, 1)
		h.weight.Store(w)
		h.draining.Store(ep.Draining)
		s.hosts = append(s.hosts, h)
		if ep.Draining {
			continue
		}
		if len(s.weights) > 0 && s.weights[0] != int64(w) {
			s.uniform = false
		}
		s.live = append(s.live, h)
		s.weights = append(s.weights, int64(w))
		s.total += uint64(w)
		s.cum = append(s.cum, s.total)
	}
	s.stride = stride(s.total)
	if !s.uniform {
		s.keep, s.alias = aliasTable(s.weights, s.total)
	}
	b.snap.Store(s)
}

// aliasTable builds Vose's alias table for the weights.
func aliasTable(weights []int64, total uint64) ([]uint64, []int32) {
	n := len(weights)
	keep := make([]uint64, n)
	alias := make([]int32, n)
	p := make([]float64, n)
	var small, large []int32
	for i, w := range weights {
		p[i] = float64(w) * float64(n) / float64(total)
		alias[i] = int32(i)
		if p[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		l, g := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		keep[l] = uint64(p[l] * (1 << 32))
		alias[l] = g
		p[g] += p[l] - 1
		if p[g] < 1 {
			large = large[:len(large)-1]
			small = append(small, g)
		}
	}
	// What is left has probability 1, up to rounding.
	for _, i := range append(small, large...) {
		keep[i] = 1 << 32
	}
	return keep, alias
}

// stride returns a step near total/phi that is coprime with total, so that
// k*stride mod total visits every slot once per cycle, interleaving hosts.
func stride(total uint64) uint64 {
	if total <= 2 {
		return 1
	}
	st := (total/1000*618 + total%1000*618/1000) | 1
	for gcd(st, total) != 1 {
		st++
	}
	return st
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Hosts returns every endpoint of the current set, draining ones included,
// in update order. It is meant for admin dumps, load reports and tests, not
// the hot path. A host removed by a later Update stays usable (see Host).
func (b *Balancer) Hosts() []*Host {
	return append([]*Host(nil), b.snap.Load().hosts...)
}

// eject ejects h unless it already is or the ejection cap is reached; a
// host refused by the cap is retried on its next failure.
func (b *Balancer) eject(h *Host) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if h.ejectedAt(now) {
		return
	}
	s := b.snap.Load()
	ejected := 0
	for _, x := range s.hosts {
		if x.ejectedAt(now) {
			ejected++
		}
	}
	if (ejected+1)*100 > b.opts.MaxEjectionPercent*len(s.hosts) {
		return
	}
	// A host that has behaved for a whole MaxEjectionTime since its last
	// ejection starts over at the base time.
	if last := h.ejectedUntil.Load(); last != 0 && now-last > int64(b.opts.MaxEjectionTime) {
		h.ejections.Store(0)
	}
	n := h.ejections.Add(1)
	d := min(time.Duration(n)*b.opts.BaseEjectionTime, b.opts.MaxEjectionTime)
	h.ejectedUntil.Store(now + int64(d))
	h.consecutiveFailures.Store(0)
}

// index maps a point in [0,total) to the live host whose weight covers it.
func (s *snapshot) index(p uint64) int {
	lo, hi := 0, len(s.cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.cum[m] > p {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// rrIndex is the k-th round-robin slot.
func (s *snapshot) rrIndex(k uint64) int {
	n := uint64(len(s.live))
	if s.uniform {
		return int(k % n)
	}
	hi, lo := bits.Mul64(k%s.total, s.stride)
	return s.index(bits.Rem64(hi, lo, s.total))
}
