package load

import (
	"fmt"
	"testing"
)

// queueing is a closed system of callers over endpoints that slow down
// with load, as real pods (and test/e2e's backends, which serve a few
// calls at a time) do: endpoint i serves slots_i requests at a time, each
// in base_i, and its latency is base_i/(1−ρ_i) (ρ capped at 0.98). The
// callers call back to back, so the request rate follows the latencies.
type queueing struct {
	ips     []string
	base    []float64
	slots   []float64
	callers float64
	// delay is how many periods the clients lag behind the weights.
	delay int
	// slowdown, if set, multiplies an endpoint's latency in a period (its
	// pod busy with other work).
	slowdown func(period, endpoint int) float64
}

// solve returns each endpoint's latency and traffic share, and the total
// request rate, under weights (nil: all neutral).
func (q *queueing) solve(weights map[string]uint32, period int) (lat, share []float64, lambda float64) {
	share = make([]float64, len(q.ips))
	var sum float64
	for i, ip := range q.ips {
		share[i] = Neutral
		if weights != nil {
			share[i] = float64(weights[ip])
		}
		sum += share[i]
	}
	for i := range share {
		share[i] /= sum
	}
	lat = make([]float64, len(q.ips))
	lambda = 1
	for range 200 { // damped fixed-point iteration of rate ↔ latency
		var cycle float64
		for i := range q.ips {
			base := q.base[i]
			if q.slowdown != nil {
				base *= q.slowdown(period, i)
			}
			rho := min(lambda*share[i]*base/q.slots[i], 0.98)
			lat[i] = base / (1 - rho)
			cycle += share[i] * lat[i]
		}
		lambda = 0.7*lambda + 0.3*q.callers/cycle
	}
	return lat, share, lambda
}

// run drives w for n periods; extra, if set, adds other clients' requests
// in flight (and their rate) to an endpoint in a period.
func (q *queueing) run(w *Weigher, n int, extra func(period, endpoint int) float64) (hist []map[string]uint32) {
	groups := map[string][]string{"svc": q.ips}
	for p := range n {
		var inEffect map[string]uint32
		if j := p - 1 - q.delay; j >= 0 {
			inEffect = hist[j]
		}
		lat, share, lambda := q.solve(inEffect, p)
		snap := map[string]Load{}
		for i, ip := range q.ips {
			x, rps := lambda*share[i]*lat[i], lambda*share[i]
			if extra != nil {
				// Other clients' requests, at the pod's own latency.
				x += extra(p, i)
				rps += extra(p, i) / lat[i]
			}
			snap[ip] = Load{RPS: rps, InFlight: x, CPU: -1, Reporters: 1}
		}
		weights, _ := w.Update(snap, groups)
		hist = append(hist, weights)
	}
	return hist
}

// turns counts the changes of direction of ip's weight from period from on.
func turns(hist []map[string]uint32, ip string, from int) int {
	n, dir := 0, 0
	for i := from + 1; i < len(hist); i++ {
		d := int(hist[i][ip]) - int(hist[i-1][ip])
		switch {
		case d > 0:
			d = 1
		case d < 0:
			d = -1
		default:
			continue
		}
		if dir != 0 && d != dir {
			n++
		}
		dir = d
	}
	return n
}

// TestWeigherQueueingBackends: with latency that grows with load, the
// weights settle with at most one change of direction, and the slow
// backend of test/e2e's least-loaded test (10× slower, 2 calls at a time)
// ends near the floor. Clients lag one or two periods.
func TestWeigherQueueingBackends(t *testing.T) {
	for _, tc := range []struct {
		name        string
		base, slots []float64
		callers     float64
		maxShare    float64 // of the last endpoint at the end; 0: not checked
	}{
		{"one of three 10× slower (test/e2e)", []float64{0.002, 0.002, 0.02}, []float64{2, 2, 2}, 8, 0.03},
		{"10 vs 15 ms", []float64{0.010, 0.015}, []float64{4, 4}, 10, 0},
		{"half the capacity", []float64{0.010, 0.010}, []float64{4, 2}, 5, 0},
	} {
		for delay := 1; delay <= 2; delay++ {
			t.Run(fmt.Sprintf("%s, clients %d periods behind", tc.name, delay), func(t *testing.T) {
				q := &queueing{ips: ips(0, len(tc.base)), base: tc.base, slots: tc.slots, callers: tc.callers, delay: delay}
				hist := q.run(NewWeigher(Options{}), 40, nil)
				last := q.ips[len(q.ips)-1]
				_, share, _ := q.solve(hist[len(hist)-1], len(hist))
				t.Logf("final weights %v, last endpoint's share %.1f%%", hist[len(hist)-1], 100*share[len(share)-1])
				if n := turns(hist, last, 4); n > 1 {
					t.Errorf("%s's weight changed direction %d times after period 4", last, n)
				}
				if tc.maxShare > 0 && share[len(share)-1] > tc.maxShare {
					t.Errorf("slow endpoint's share %.1f%%, want at most %.1f%%", 100*share[len(share)-1], 100*tc.maxShare)
				}
			})
		}
	}
}

// TestWeigherFloodAndRecovery: three like endpoints, two callers; another
// client floods the first from period 10 to 30 (its in-flight requests
// show it, and its pod, busy, answers 3× slower). Its weight goes down
// during the flood and comes back after, although the two callers then
// send it too little to measure its latency again (as test/e2e's
// cluster-wide test): the flood's latency fades rather than holding it
// down. The pace is the latency smoothing's (0.1 a period: the flood's
// 15 ms must fade to within a tenth of 5 ms before the squared latency
// floor lets A back near Neutral), about 25 periods; before the counts of
// thin periods were added up, A stayed near the floor for more than 30.
func TestWeigherFloodAndRecovery(t *testing.T) {
	flooding := func(p, i int) bool { return i == 0 && p >= 10 && p < 30 }
	q := &queueing{ips: ips(0, 3), base: []float64{0.005, 0.005, 0.005}, slots: []float64{256, 256, 256}, callers: 2, delay: 1,
		slowdown: func(p, i int) float64 {
			if flooding(p, i) {
				return 3
			}
			return 1
		}}
	hist := q.run(NewWeigher(Options{}), 70, func(p, i int) float64 {
		if flooding(p, i) {
			return 48
		}
		return 0
	})
	a := q.ips[0]
	back := -1
	for p := 30; p < len(hist) && back < 0; p++ {
		if hist[p][a] >= Neutral*8/10 {
			back = p - 30
		}
	}
	t.Logf("A's weight: before %d, in the flood %d, after %d; back to %d %d periods after the flood", hist[9][a], hist[29][a], hist[69][a], Neutral*8/10, back)
	if hist[29][a] > Neutral/2 {
		t.Errorf("A's weight %d at the end of the flood, want well under %d", hist[29][a], Neutral)
	}
	if back < 0 || back > 30 {
		t.Errorf("A's weight back to %d after %d periods (-1: not in 40), want within 30", Neutral*8/10, back)
	}
}
