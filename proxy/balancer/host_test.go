package balancer

import (
	"math"
	"testing"
	"time"
)

// TestFade: the series stands in for the exponential only where it is
// exact to within 2e-10.
func TestFade(t *testing.T) {
	for _, x := range []float64{0, 1e-9, 1e-6, 5e-4, 9.99e-4, 1e-3, 0.01, 1, 10} {
		got, want := fade(x), math.Exp(-x)
		if d := math.Abs(got - want); d > 2e-10 {
			t.Errorf("fade(%g) = %.15g, want %.15g (off by %g)", x, got, want, d)
		}
	}
}

// TestObserveQuietSpell: a sample after a quiet spell weighs 1 − e^(−quiet/RTTFade)
// once that is more than rttWeight, and rttWeight before.
func TestObserveQuietSpell(t *testing.T) {
	for _, quiet := range []time.Duration{time.Millisecond, RTTFade / 8, RTTFade / 4, RTTFade / 2, 3 * RTTFade} {
		now := time.Unix(1000, 0)
		b := New(Options{Now: func() time.Time { return now }})
		b.Update(endpoints(1, 1))
		h := b.Hosts()[0]
		h.Observe(10 * time.Millisecond)
		now = now.Add(quiet)
		h.Observe(20 * time.Millisecond)
		w := max(rttWeight, 1-math.Exp(-float64(quiet)/float64(RTTFade)))
		want := float64(10*time.Millisecond)*(1-w) + float64(20*time.Millisecond)*w
		if got := float64(h.rtt.Load()); math.Abs(got-want) > 1 {
			t.Errorf("after %v quiet: rtt %.0f ns, want %.0f", quiet, got, want)
		}
	}
}
