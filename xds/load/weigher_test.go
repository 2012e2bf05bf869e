package load

import (
	"fmt"
	"maps"
	"math"
	"testing"
	"time"
)

// ips returns n endpoint IPs 10.0.<g>.1.. for group g.
func ips(g, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.%d.%d", g, i+1)
	}
	return out
}

// inflight is a snapshot where each IP reports the given in-flight count
// (open loop: the load does not follow the weights).
func inflight(ips []string, x ...float64) map[string]Load {
	snap := map[string]Load{}
	for i, ip := range ips {
		snap[ip] = Load{RPS: 100, InFlight: x[i], CPU: -1, Reporters: 1}
	}
	return snap
}

func TestWeigherNeutral(t *testing.T) {
	w := NewWeigher(Options{})
	a, b := ips(0, 3), ips(1, 2)
	groups := map[string][]string{"a": a, "b": b}

	// Nothing reported anywhere: every endpoint is Neutral, and the first
	// answer is a change (from nothing).
	got, changed := w.Update(nil, groups)
	if !changed {
		t.Error("first update: changed = false")
	}
	want := map[string]uint32{}
	for _, ip := range append(a, b...) {
		want[ip] = Neutral
	}
	if !maps.Equal(got, want) {
		t.Errorf("first update = %v, want all %d", got, Neutral)
	}

	// Group a reports skewed load for a while; group b still reports
	// nothing and stays Neutral.
	for range 10 {
		got, _ = w.Update(inflight(a, 1, 10, 30), groups)
	}
	for _, ip := range b {
		if got[ip] != Neutral {
			t.Errorf("%s in a group without reports = %d, want %d", ip, got[ip], Neutral)
		}
	}
	if got[a[0]] == Neutral {
		t.Fatalf("group a did not move: %v", got)
	}

	// A new endpoint in group a starts at Neutral, and is a change.
	a = append(a, "10.0.0.99")
	groups["a"] = a
	got, changed = w.Update(inflight(a, 1, 10, 30, 0), groups)
	if !changed || got["10.0.0.99"] != Neutral {
		t.Errorf("new endpoint: weight %d, changed %v; want %d, true", got["10.0.0.99"], changed, Neutral)
	}

	// An endpoint never measured, without reports in a group with
	// reports, is moved to Neutral (in damped steps).
	a = append(a, "10.0.0.98")
	groups["a"] = a
	snap := inflight(a[:4], 1, 10, 30, 10)
	for range 20 {
		got, _ = w.Update(snap, groups)
	}
	if r := float64(got["10.0.0.98"]) / Neutral; r < 0.9 || r > 1.1 {
		t.Errorf("endpoint never reported = %d, want within 10%% of %d", got["10.0.0.98"], Neutral)
	}
	// One measured slow that stops getting requests (reporters leave idle
	// endpoints out) is idle, not unknown: its latency keeps it low.
	delete(snap, a[2])
	for range 20 {
		got, _ = w.Update(snap, groups)
	}
	if got[a[2]] >= Neutral/2 {
		t.Errorf("slow endpoint gone idle = %d, want it kept low (below %d)", got[a[2]], Neutral/2)
	}
}

func TestWeigherLeastLoaded(t *testing.T) {
	w := NewWeigher(Options{})
	a := ips(0, 3)
	groups := map[string][]string{"a": a}
	snap := inflight(a, 10, 20, 30)
	w.Update(snap, groups) // new endpoints: Neutral
	got, changed := w.Update(snap, groups)
	if !changed {
		t.Fatal("skewed load: changed = false")
	}
	if !(got[a[0]] > Neutral && got[a[2]] < Neutral && got[a[0]] > got[a[1]] && got[a[1]] > got[a[2]]) {
		t.Errorf("weights for in-flight 10, 20, 30 = %d, %d, %d; want decreasing around %d",
			got[a[0]], got[a[1]], got[a[2]], Neutral)
	}
}

func TestWeigherBounded(t *testing.T) {
	tests := []struct {
		name string
		load []float64
	}{
		{"one busy among idle", []float64{1000, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"one idle among busy", []float64{0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}},
		{"extreme spread", []float64{0, 1e9, 1e-9, 5, 1e6, 0, 0, 0, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWeigher(Options{})
			a := ips(0, len(tc.load))
			groups := map[string][]string{"a": a}
			var got map[string]uint32
			for range 100 {
				got, _ = w.Update(inflight(a, tc.load...), groups)
				for ip, v := range got {
					if v < MinWeight || v > MaxWeight {
						t.Fatalf("%s = %d, outside [%d, %d]", ip, v, MinWeight, MaxWeight)
					}
				}
			}
			if tc.load[0] == 0 && got[a[0]] < Neutral {
				t.Errorf("idle endpoint = %d, want above %d", got[a[0]], Neutral)
			}
			if tc.load[0] == 1000 && got[a[0]] != MinWeight {
				t.Errorf("busy endpoint = %d, want %d", got[a[0]], MinWeight)
			}
		})
	}
	// One idle pod among nine busy ones is capped, not given everything.
	w := NewWeigher(Options{})
	a := ips(0, 10)
	var got map[string]uint32
	for range 100 {
		got, _ = w.Update(inflight(a, 0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000), map[string][]string{"a": a})
	}
	if got[a[0]] < MaxWeight*9/10 {
		t.Errorf("idle pod among busy ones = %d, want (within the deadband of) the cap %d", got[a[0]], MaxWeight)
	}
}

func TestWeigherErrorPenalty(t *testing.T) {
	tests := []struct {
		name      string
		latency   []float64
		errRate   []float64
		check     func(w uint32) bool
		wantFinal string
	}{
		// The third endpoint fails every request at once, so it has almost
		// nothing in flight: without the penalty it would attract traffic.
		{"fails fast", []float64{1, 1, 0.01}, []float64{0, 0, 1},
			func(w uint32) bool { return w == MinWeight }, "MinWeight"},
		{"fast and healthy", []float64{1, 1, 0.01}, []float64{0, 0, 0},
			func(w uint32) bool { return w > 2*Neutral }, "above 2×Neutral"},
		{"half its requests fail", []float64{1, 1, 1}, []float64{0, 0, 0.5},
			func(w uint32) bool { return w < Neutral/2 }, "below Neutral/2"},
		{"background 1% errors", []float64{1, 1, 1}, []float64{0.01, 0, 0},
			func(w uint32) bool { return w > Neutral*8/10 && w <= Neutral }, "within 20% of Neutral"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &system{ips: ips(0, 3), latency: tc.latency, errRate: tc.errRate, lambda: 300}
			hist, _ := s.run(NewWeigher(Options{}), 40)
			final := hist[len(hist)-1]
			if w := final[s.ips[2]]; !tc.check(w) {
				t.Errorf("weights %d %d %d: the third is not %s", final[s.ips[0]], final[s.ips[1]], w, tc.wantFinal)
			}
		})
	}
	// Errors seen on a handful of requests count for little.
	a := ips(0, 3)
	few := inflight(a, 10, 10, 10)
	// (In flight as much as makes its latency, with the prior, the
	// others' 0.1 s.)
	few[a[2]] = Load{RPS: 0.2, InFlight: 0.11, ErrorRate: 1, CPU: -1, Reporters: 1}
	many := inflight(a, 10, 10, 10)
	many[a[2]] = Load{RPS: 100, InFlight: 10, ErrorRate: 1, CPU: -1, Reporters: 1}
	wf, wm := NewWeigher(Options{}), NewWeigher(Options{})
	groups := map[string][]string{"a": a}
	wf.Update(few, groups)
	wm.Update(many, groups)
	gotF, _ := wf.Update(few, groups)
	gotM, _ := wm.Update(many, groups)
	if gotF[a[2]] <= gotM[a[2]] {
		t.Errorf("after one period, 1 failure in 5 s gave %d, 100 failures/s %d; want the first higher", gotF[a[2]], gotM[a[2]])
	}
}

func TestWeigherCPU(t *testing.T) {
	a := ips(0, 2)
	groups := map[string][]string{"a": a}
	snap := inflight(a, 10, 10)
	snap[a[0]] = Load{RPS: 100, InFlight: 10, CPU: 0.2, Reporters: 1}
	snap[a[1]] = Load{RPS: 100, InFlight: 10, CPU: 1.8, Reporters: 1}
	w := NewWeigher(Options{})
	var got map[string]uint32
	for range 20 {
		got, _ = w.Update(snap, groups)
	}
	if got[a[0]] <= got[a[1]] {
		t.Errorf("equal in-flight, CPU 0.2 vs 1.8: weights %d, %d; want the first higher", got[a[0]], got[a[1]])
	}

	// CPU known for only part of the group is ignored.
	snap[a[1]] = Load{RPS: 100, InFlight: 10, CPU: -1, Reporters: 1}
	w = NewWeigher(Options{})
	for range 20 {
		got, _ = w.Update(snap, groups)
	}
	if got[a[0]] != Neutral || got[a[1]] != Neutral {
		t.Errorf("CPU known for one endpoint of two: %v, want both %d", got, Neutral)
	}

	// CPU alone (no proxy reports) balances too.
	cpuOnly := map[string]Load{a[0]: {CPU: 0.1}, a[1]: {CPU: 2}}
	w = NewWeigher(Options{})
	for range 20 {
		got, _ = w.Update(cpuOnly, groups)
	}
	if got[a[0]] <= got[a[1]] {
		t.Errorf("CPU only, 0.1 vs 2: weights %d, %d; want the first higher", got[a[0]], got[a[1]])
	}
}

func TestWeigherDeadband(t *testing.T) {
	w := NewWeigher(Options{})
	a := ips(0, 3)
	groups := map[string][]string{"a": a}
	first, _ := w.Update(nil, groups)
	for i := range 20 {
		got, changed := w.Update(inflight(a, 10, 10.5, 9.6), groups)
		if changed {
			t.Fatalf("period %d: a 5%% load difference was published: %v", i, got)
		}
		// The same map comes back while nothing changes.
		if fmt.Sprintf("%p", got) != fmt.Sprintf("%p", first) {
			t.Fatalf("period %d: unchanged weights returned in a new map", i)
		}
	}
}

func TestWeigherRemovesEndpoints(t *testing.T) {
	w := NewWeigher(Options{})
	a := ips(0, 3)
	prev, _ := w.Update(nil, map[string][]string{"a": a})
	got, changed := w.Update(nil, map[string][]string{"a": a[:2]})
	if !changed || len(got) != 2 {
		t.Errorf("after removing an endpoint: %v, changed %v", got, changed)
	}
	if len(prev) != 3 {
		t.Errorf("a returned map was modified later: %v", prev)
	}
	got, changed = w.Update(nil, nil)
	if !changed || len(got) != 0 {
		t.Errorf("no groups: %v, changed %v", got, changed)
	}
	if len(w.eps) != 0 {
		t.Errorf("%d endpoints still tracked", len(w.eps))
	}
}

func TestWeigherIPInSeveralGroups(t *testing.T) {
	// 10.9.9.9 is the busiest endpoint of group a and the idlest of b: it
	// gets the lower (a's) weight.
	shared := "10.9.9.9"
	a := append(ips(0, 2), shared)
	b := append(ips(1, 2), shared)
	snap := inflight(a, 1, 1, 20)
	maps.Copy(snap, inflight(b[:2], 40, 40))
	groups := map[string][]string{"a": a, "b": b}

	w, wa := NewWeigher(Options{}), NewWeigher(Options{})
	var got, gotA map[string]uint32
	for range 30 {
		got, _ = w.Update(snap, groups)
		gotA, _ = wa.Update(snap, map[string][]string{"a": a})
	}
	if got[shared] >= Neutral || got[shared] != gotA[shared] {
		t.Errorf("shared IP = %d, want its weight in group a alone (%d), below %d", got[shared], gotA[shared], Neutral)
	}
	// Listing an IP twice in one group counts it once.
	w = NewWeigher(Options{})
	for range 30 {
		got, _ = w.Update(inflight(a, 1, 1, 20), map[string][]string{"a": append(a, a[2], a[2])})
	}
	for ip, v := range gotA {
		if got[ip] != v {
			t.Errorf("duplicate listing changed %s: %d, want %d", ip, got[ip], v)
		}
	}
}

func TestWeigherBadLoads(t *testing.T) {
	a := ips(0, 4)
	snap := map[string]Load{
		a[0]: {RPS: math.NaN(), InFlight: math.Inf(1), ErrorRate: math.NaN(), CPU: math.NaN(), Reporters: 1},
		a[1]: {RPS: -5, InFlight: -3, ErrorRate: 7, CPU: -2, Reporters: 1},
		a[2]: {RPS: 10, InFlight: 5, ErrorRate: -1, CPU: -1, Reporters: 1},
		a[3]: {RPS: 10, InFlight: 5, CPU: -1, Reporters: 1},
	}
	w := NewWeigher(Options{Damping: -1, Smoothing: math.NaN(), MaxStep: math.Inf(1)})
	for range 50 {
		got, _ := w.Update(snap, map[string][]string{"a": a})
		for ip, v := range got {
			if v < MinWeight || v > MaxWeight {
				t.Fatalf("%s = %d with garbage loads", ip, v)
			}
		}
	}
}

func TestLoop(t *testing.T) {
	tb := NewTable()
	l := Loop{Table: tb, Weigher: NewWeigher(Options{})}
	a := ips(0, 2)
	groups := map[string][]string{"default/echo": a}
	var got map[string]uint32
	for i := range 10 {
		now := t0.Add(time.Duration(i) * time.Second)
		tb.Add("client#1", a[0], Sample{Issued: 100, Succeeded: 100, InProgress: 1, Interval: time.Second}, now)
		tb.Add("client#1", a[1], Sample{Issued: 100, Succeeded: 100, InProgress: 30, Interval: time.Second}, now)
		got, _ = l.Weights(now, groups)
	}
	if got[a[0]] <= got[a[1]] {
		t.Errorf("weights %v: want the endpoint with fewer requests in flight higher", got)
	}
}
