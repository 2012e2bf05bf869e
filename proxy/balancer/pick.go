package balancer

import (
	"math/rand/v2"
	"net/netip"
)

// draws is how many pairs Pick draws before it falls back to a scan.
const draws = 3

// Pick chooses a host for a new connection or request, skipping draining
// and ejected hosts and those for which exclude (may be nil) returns true.
// It takes no lock and does not allocate. It reports false when no host is
// eligible.
func (b *Balancer) Pick(exclude func(netip.AddrPort) bool) (*Host, bool) {
	s := b.snap.Load()
	if len(s.live) == 0 {
		return nil, false
	}
	var p picker
	p.b, p.exclude = b, exclude
	if b.opts.Mode == RoundRobin {
		return p.roundRobin(s)
	}
	return p.leastRequest(s)
}

// picker carries one Pick's state; now is read from the clock only when a
// candidate has ever been ejected.
type picker struct {
	b       *Balancer
	exclude func(netip.AddrPort) bool
	now     int64
}

func (p *picker) eligible(h *Host) bool {
	if p.exclude != nil && p.exclude(h.addr) {
		return false
	}
	if until := h.ejectedUntil.Load(); until != 0 {
		if p.now == 0 {
			p.now = p.b.now()
		}
		return p.now >= until
	}
	return true
}

// sample draws a live host in proportion to its weight (weighted sets only).
func (s *snapshot) sample() int {
	// One 64-bit draw: the high half picks a slot, the low half the coin.
	r := rand.Uint64()
	i := int((r >> 32) * uint64(len(s.live)) >> 32)
	if r&(1<<32-1) < s.keep[i] {
		return i
	}
	return int(s.alias[i])
}

// lighter reports whether host i is the lighter pick than host j. Once
// both have a response-time estimate (HTTP: see Host.Observe) the load is
// the expected wait, (active+1) × RTT, as in linkerd's and Finagle's
// balancers: active work alone hands a slow host every request that finds
// it idle. The EDS weights are left out of it: a pod busy with other
// clients' work answers slowly, so its RTT already carries the
// cluster-wide load the weights stand for. Before there are estimates
// (and for L4 connections, which observe nothing) it is active work per
// weight.
//
// Expected waits within rttMargin of each other count as equal and the
// active work decides: response times of like pods differ by noise, and a
// pod whose estimate happened to come out a little high would otherwise
// lose every comparison, get no request to correct it, and sit idle while
// a lone client's sequential requests all went to the others.
func (p *picker) lighter(s *snapshot, i, j int) bool {
	hi, hj := s.live[i], s.live[j]
	ai, aj := hi.active.Load(), hj.active.Load()
	if hi.rtt.Load() != 0 && hj.rtt.Load() != 0 {
		if p.now == 0 {
			p.now = p.b.now()
		}
		ci, cj := float64(ai+1)*hi.rttNow(p.now), float64(aj+1)*hj.rttNow(p.now)
		switch {
		case ci < cj*rttMargin:
			return true
		case cj < ci*rttMargin:
			return false
		}
	}
	return ai*s.weights[j] < aj*s.weights[i]
}

// rttMargin: one expected wait must be below this fraction of the other to
// decide a comparison.
const rttMargin = 0.7

func (p *picker) leastRequest(s *snapshot) (*Host, bool) {
	n := len(s.live)
	for range draws {
		var i, j int
		switch {
		case n == 1:
		case s.uniform:
			// Two distinct hosts from one 64-bit draw.
			r := rand.Uint64()
			i = int((r >> 32) * uint64(n) >> 32)
			j = int((r & (1<<32 - 1)) * uint64(n-1) >> 32)
			if j >= i {
				j++
			}
		default:
			// i is drawn by weight; j, if the same, is another host
			// drawn evenly, so there is always a comparison (a repeat
			// would hand i the request whatever its load). i wins ties,
			// which keeps an idle cluster spread exactly by weight.
			i, j = s.sample(), s.sample()
			if j == i {
				j = int(rand.Uint64N(uint64(n - 1)))
				if j >= i {
					j++
				}
			}
		}
		okI, okJ := p.eligible(s.live[i]), p.eligible(s.live[j])
		switch {
		case okI && okJ:
			if p.lighter(s, j, i) {
				return s.live[j], true
			}
			return s.live[i], true
		case okI:
			return s.live[i], true
		case okJ:
			return s.live[j], true
		}
	}
	// Most hosts are out: take the lightest eligible one, scanning from a
	// random start so ties do not all land on the first host.
	best := -1
	start := rand.IntN(n)
	for k := range n {
		i := (start + k) % n
		if p.eligible(s.live[i]) && (best < 0 || p.lighter(s, i, best)) {
			best = i
		}
	}
	if best < 0 {
		return nil, false
	}
	return s.live[best], true
}

func (p *picker) roundRobin(s *snapshot) (*Host, bool) {
	n := len(s.live)
	for range n {
		h := s.live[s.rrIndex(p.b.rr.Add(1)-1)]
		if p.eligible(h) {
			return h, true
		}
	}
	// Weighted slots may keep landing on ineligible hosts; scan once.
	start := int(p.b.rr.Load() % uint64(n))
	for k := range n {
		if h := s.live[(start+k)%n]; p.eligible(h) {
			return h, true
		}
	}
	return nil, false
}
