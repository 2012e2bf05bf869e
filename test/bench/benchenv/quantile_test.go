package benchenv

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDurationQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0, time.Millisecond}, {0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := DurationQuantile(ds, tt.q); got != tt.want {
			t.Errorf("DurationQuantile(1..100 ms, %v) = %v; want %v", tt.q, got, tt.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("DurationQuantile sorted its argument")
	}
	if got := DurationQuantile(nil, 0.5); got != 0 {
		t.Errorf("DurationQuantile(nil) = %v; want 0", got)
	}
}

func TestHistogramQuantile(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "x_seconds", Buckets: []float64{1, 2, 4}}, []string{"result"})
	reg.MustRegister(h)
	// 10 in (0,1], 10 in (1,2], 80 in (2,4]; and one series of another label.
	for range 10 {
		h.WithLabelValues("ok").Observe(0.5)
		h.WithLabelValues("ok").Observe(1.5)
	}
	for range 80 {
		h.WithLabelValues("ok").Observe(3)
	}
	h.WithLabelValues("error").Observe(10)
	m, err := GatherMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    float64
		want float64
	}{{0.05, 0.5}, {0.15, 1.5}, {0.6, 3}, {1, 4}} {
		got, ok := m.HistogramQuantile(tt.q, "x_seconds", "result", "ok")
		if !ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("HistogramQuantile(%v) = %v, %v; want %v", tt.q, got, ok, tt.want)
		}
	}
	// Across both series the last observation is in +Inf: the largest bound.
	if got, ok := m.HistogramQuantile(1, "x_seconds"); !ok || got != 4 {
		t.Errorf("HistogramQuantile(1) over both series = %v, %v; want 4", got, ok)
	}
	if _, ok := m.HistogramQuantile(0.5, "nothing"); ok {
		t.Error("HistogramQuantile of a missing histogram: ok")
	}
	if !strings.HasPrefix(m[0].Name, "x_seconds") {
		t.Errorf("first sample %q", m[0].Name)
	}
}

func TestSpreadOf(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want Spread
	}{
		{nil, Spread{}},
		{[]float64{7}, Spread{7, 7, 7}},
		{[]float64{3, 1}, Spread{2, 1, 3}}, // the mean of the two, not the better one
		{[]float64{5, 1, 4, 2, 3}, Spread{3, 1, 5}},
		{[]float64{10, 40, 20, 30}, Spread{25, 10, 40}},
	} {
		in := slices.Clone(tt.xs)
		if got := SpreadOf(tt.xs); got != tt.want {
			t.Errorf("SpreadOf(%v) = %+v; want %+v", tt.xs, got, tt.want)
		}
		if !slices.Equal(in, tt.xs) {
			t.Errorf("SpreadOf sorted its argument: %v", tt.xs)
		}
	}
}
