package benchenv

import (
	"math"
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
