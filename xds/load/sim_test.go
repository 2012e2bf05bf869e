package load

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"testing"
)

// system is a closed system of endpoints with fixed latencies: each gets a
// traffic share equal to its weight over the sum of weights, and has
// λ·share·latency requests in flight (Little's law).
type system struct {
	ips     []string
	latency []float64
	errRate []float64 // per endpoint; nil for none
	lambda  float64
	noise   func() float64 // multiplies each in-flight sample; nil for none
	// delay is how many periods the clients lag behind the published
	// weights (EDS propagation plus the report interval).
	delay int
	// shares, if set, are the traffic shares whatever the weights: clients
	// that pick by something else (Shoal's proxy weighs by response time).
	shares []float64
	// cpuPerRequest, if set, is each endpoint's CPU per request (core
	// seconds); its pod's CPU is then reported too.
	cpuPerRequest []float64
	// timed: the clients time their requests and report the latency (as
	// Shoal's proxy does).
	timed bool
}

func (s *system) snapshot(weights map[string]uint32) map[string]Load {
	if weights == nil {
		return nil
	}
	var sum float64
	for _, ip := range s.ips {
		sum += float64(weights[ip])
	}
	snap := map[string]Load{}
	for i, ip := range s.ips {
		share := float64(weights[ip]) / sum
		if s.shares != nil {
			share = s.shares[i]
		}
		x := s.lambda * share * s.latency[i]
		if s.noise != nil {
			x *= s.noise()
		}
		l := Load{RPS: s.lambda * share, InFlight: x, CPU: -1, Reporters: 1}
		if s.cpuPerRequest != nil {
			l.CPU = s.lambda * share * s.cpuPerRequest[i]
		}
		if s.timed {
			l.Latency = s.latency[i]
		}
		if s.errRate != nil {
			l.ErrorRate = s.errRate[i]
		}
		snap[ip] = l
	}
	return snap
}

func (s *system) inflight(weights map[string]uint32) []float64 {
	noise := s.noise
	s.noise = nil
	defer func() { s.noise = noise }()
	snap := s.snapshot(weights)
	out := make([]float64, len(s.ips))
	for i, ip := range s.ips {
		out[i] = snap[ip].InFlight
	}
	return out
}

// run drives w for n periods and returns each period's weights and whether
// they were published.
func (s *system) run(w *Weigher, n int) (hist []map[string]uint32, changed []bool) {
	groups := map[string][]string{"svc": s.ips}
	for i := range n {
		var inEffect map[string]uint32
		if j := i - 1 - s.delay; j >= 0 {
			inEffect = hist[j]
		}
		weights, c := w.Update(s.snapshot(inEffect), groups)
		hist = append(hist, weights)
		changed = append(changed, c)
	}
	return hist, changed
}

func TestWeigherConvergesWithoutOscillating(t *testing.T) {
	for delay := range 3 {
		t.Run(fmt.Sprintf("clients %d periods behind", delay), func(t *testing.T) {
			testConverges(t, delay)
		})
	}
}

func testConverges(t *testing.T, delay int) {
	s := &system{ips: ips(0, 3), latency: []float64{1, 1, 10}, lambda: 300, delay: delay}
	hist, changed := s.run(NewWeigher(Options{}), 60)
	for i, h := range hist {
		t.Logf("period %2d: %3d %3d %3d published=%v", i, h[s.ips[0]], h[s.ips[1]], h[s.ips[2]], changed[i])
	}

	const settle = 3
	for _, ip := range s.ips {
		turns, dir := 0, 0
		for i := settle + 1; i < len(hist); i++ {
			d := int(hist[i][ip]) - int(hist[i-1][ip])
			if d == 0 {
				continue
			}
			if d > 0 {
				d = 1
			} else {
				d = -1
			}
			if dir != 0 && d != dir {
				turns++
			}
			dir = d
		}
		if turns > 1 {
			t.Errorf("%s changed direction %d times after period %d", ip, turns, settle)
		}
	}

	final := hist[len(hist)-1]
	checkSlowAvoided(t, s, final)
	// Steady load: EDS goes quiet.
	for i := len(changed) - 30; i < len(changed); i++ {
		if changed[i] {
			t.Errorf("period %d: weights republished under steady load", i)
		}
	}
}

// TestWeigherClientsIgnoringWeights: clients that keep a slow endpoint
// nearly idle whatever its weight (as Shoal's proxy does, weighing each
// pick by response time) must not make it look like spare capacity: its
// weight goes down, as it would if they followed the weights.
func TestWeigherClientsIgnoringWeights(t *testing.T) {
	for _, cpu := range [][]float64{nil, {0.001, 0.001, 0.001}} {
		t.Run(fmt.Sprintf("CPU known %v", cpu != nil), func(t *testing.T) {
			s := &system{ips: ips(0, 3), latency: []float64{0.002, 0.002, 0.02}, lambda: 3000,
				shares: []float64{0.4995, 0.4995, 0.001}, cpuPerRequest: cpu, timed: true}
			hist, _ := s.run(NewWeigher(Options{}), 40)
			final := hist[len(hist)-1]
			t.Logf("weights %d %d %d (the third 10× slower and kept at 0.1%% of the traffic)", final[s.ips[0]], final[s.ips[1]], final[s.ips[2]])
			if slow, fast := final[s.ips[2]], final[s.ips[0]]; slow >= Neutral/2 || slow*3 > fast {
				t.Errorf("weights %d %d %d: the slow, nearly idle endpoint should weigh far less than the others",
					final[s.ips[0]], final[s.ips[1]], slow)
			}
		})
	}
}

func TestWeigherNoiseBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := &system{
		ips: ips(0, 3), latency: []float64{1, 1, 10}, lambda: 300,
		noise: func() float64 { return 0.8 + 0.4*rng.Float64() },
	}
	hist, changed := s.run(NewWeigher(Options{}), 300)
	const settle = 20
	worst, published := 0.0, 0
	for i := settle; i < len(hist); i++ {
		for _, ip := range s.ips {
			r := math.Abs(float64(hist[i][ip])/float64(hist[i-1][ip]) - 1)
			worst = max(worst, r)
		}
		if changed[i] {
			published++
		}
	}
	t.Logf("±20%% noise: largest period-to-period change %.1f%%, published %d of %d periods",
		100*worst, published, len(hist)-settle)
	if worst > 0.15 {
		t.Errorf("a weight moved %.0f%% in one period under ±20%% noise, want at most 15%%", 100*worst)
	}
	if published > (len(hist)-settle)/4 {
		t.Errorf("published %d times in %d periods of steady (noisy) load", published, len(hist)-settle)
	}
	checkSlowAvoided(t, s, hist[len(hist)-1])
}

// checkSlowAvoided checks the weights of endpoints 1, 1 and 10 (latency):
// the slow one at the bottom (1/latency² would be 1/100 of the others'
// weight, below MinWeight), so that it holds fewer requests in flight than
// each fast one (with weights as 1/latency it would hold as many, and
// callers would spend a third of their time waiting on it), and the fast
// ones alike.
func checkSlowAvoided(t *testing.T, s *system, final map[string]uint32) {
	t.Helper()
	var sum float64
	for _, v := range final {
		sum += float64(v)
	}
	if share := float64(final[s.ips[2]]) / sum; share > 0.025 {
		t.Errorf("slow endpoint's share = %.3f, want at most 2.5%% (its weight at or near MinWeight)", share)
	}
	x := s.inflight(final)
	if x[2] > 0.5*min(x[0], x[1]) {
		t.Errorf("in flight %.1f %.1f %.1f: the slow endpoint should hold well under each fast one's", x[0], x[1], x[2])
	}
	if math.Abs(x[0]/x[1]-1) > 0.15 {
		t.Errorf("in flight %.1f and %.1f on the two fast endpoints: more than 15%% apart", x[0], x[1])
	}
}

// BenchmarkWeigherUpdate runs one period over 1000 Services of 10
// endpoints with random latencies, in a closed system (in-flight requests
// follow the weights): "steady" once the weights have settled (the common
// case), "noisy" with ±20% noise on every sample so weights keep moving.
func BenchmarkWeigherUpdate(b *testing.B) {
	const nGroups, perGroup = 1000, 10
	groups := make(map[string][]string, nGroups)
	systems := make([]*system, 0, nGroups)
	rng := rand.New(rand.NewPCG(1, 2))
	for g := range nGroups {
		s := &system{lambda: 100 + 1000*rng.Float64()}
		for i := range perGroup {
			s.ips = append(s.ips, fmt.Sprintf("10.%d.%d.%d", g/250, g%250, i+1))
			s.latency = append(s.latency, 0.5+5*rng.Float64())
		}
		groups[fmt.Sprint("svc", g)] = s.ips
		systems = append(systems, s)
	}
	snapshot := func(weights map[string]uint32) map[string]Load {
		snap := make(map[string]Load, nGroups*perGroup)
		for _, s := range systems {
			maps.Copy(snap, s.snapshot(weights))
		}
		return snap
	}
	w := NewWeigher(Options{})
	var weights map[string]uint32
	for range 100 {
		weights, _ = w.Update(snapshot(weights), groups)
	}
	settled := snapshot(weights)
	for _, s := range systems {
		s.noise = func() float64 { return 0.8 + 0.4*rng.Float64() }
	}
	noisy := [2]map[string]Load{snapshot(weights), snapshot(weights)}

	b.Run("steady", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.Update(settled, groups)
		}
	})
	b.Run("noisy", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			w.Update(noisy[i%2], groups)
		}
	})
}
