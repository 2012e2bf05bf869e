package load

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestTableAggregates(t *testing.T) {
	tb := NewTable()
	// Reporter a: 100 issued over 2 s, 90 ok, 10 failed, 3 in flight.
	tb.Add("a", "10.0.0.1", Sample{Issued: 100, Succeeded: 90, Errors: 10, InProgress: 3, Interval: 2 * time.Second}, t0)
	// Reporter b: 50 over 1 s, no errors, 2 in flight.
	tb.Add("b", "10.0.0.1", Sample{Issued: 50, Succeeded: 50, InProgress: 2, Interval: time.Second}, t0)
	tb.Add("b", "10.0.0.2", Sample{Issued: 10, Succeeded: 0, Errors: 10, Interval: time.Second}, t0)

	snap := tb.Snapshot(t0)
	if len(snap) != 2 {
		t.Fatalf("snapshot has %d IPs, want 2: %v", len(snap), snap)
	}
	got := snap["10.0.0.1"]
	// 50 + 50 rps; errors 5/s of 50+50 finished/s.
	want := Load{RPS: 100, InFlight: 5, ErrorRate: 0.05, CPU: -1, Reporters: 2}
	if !near(got.RPS, want.RPS) || !near(got.InFlight, want.InFlight) || !near(got.ErrorRate, want.ErrorRate) ||
		got.CPU != want.CPU || got.Reporters != want.Reporters {
		t.Errorf("10.0.0.1 = %+v, want %+v", got, want)
	}
	if got := snap["10.0.0.2"]; got.ErrorRate != 1 || got.RPS != 10 || got.Reporters != 1 {
		t.Errorf("10.0.0.2 = %+v, want error rate 1, 10 rps, 1 reporter", got)
	}
}

func TestTableNewerSampleReplaces(t *testing.T) {
	tb := NewTable()
	tb.Add("a", "10.0.0.1", Sample{Issued: 100, InProgress: 7, Interval: time.Second}, t0)
	tb.Add("a", "10.0.0.1", Sample{Issued: 10, InProgress: 1, Interval: time.Second}, t0.Add(time.Second))
	got := tb.Snapshot(t0.Add(time.Second))["10.0.0.1"]
	if got.RPS != 10 || got.InFlight != 1 || got.Reporters != 1 {
		t.Errorf("got %+v, want only the newer sample (10 rps, 1 in flight)", got)
	}
}

func TestTableExpiry(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		age      time.Duration
		want     bool
	}{
		{"1s interval, 9s old", time.Second, 9 * time.Second, true},
		{"1s interval, 11s old (10s floor)", time.Second, 11 * time.Second, false},
		{"5s interval, 14s old", 5 * time.Second, 14 * time.Second, true},
		{"5s interval, 16s old (3 intervals)", 5 * time.Second, 16 * time.Second, false},
		{"from the future", time.Second, -time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable()
			tb.Add("a", "10.0.0.1", Sample{Issued: 1, Interval: tc.interval}, t0)
			_, got := tb.Snapshot(t0.Add(tc.age))["10.0.0.1"]
			if got != tc.want {
				t.Errorf("present = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTableExpiredEntriesAreDropped(t *testing.T) {
	tb := NewTable()
	for i := range 100 {
		tb.Add(fmt.Sprint("r", i), fmt.Sprint("10.0.1.", i), Sample{Issued: 1, Interval: time.Second}, t0)
	}
	tb.SetCPU("10.0.2.1", 1, t0)
	tb.Snapshot(t0.Add(time.Hour))
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.reporters) != 0 || len(tb.acc) != 0 || len(tb.cpu) != 0 {
		t.Errorf("after expiry: %d reporters, %d accumulators, %d CPU entries; want none",
			len(tb.reporters), len(tb.acc), len(tb.cpu))
	}
}

func TestTableForget(t *testing.T) {
	tb := NewTable()
	tb.Add("a", "10.0.0.1", Sample{Issued: 1, Interval: time.Second}, t0)
	tb.Add("b", "10.0.0.1", Sample{Issued: 2, Interval: time.Second}, t0)
	tb.Forget("a")
	tb.Forget("nobody")
	if got := tb.Snapshot(t0)["10.0.0.1"]; got.Reporters != 1 || got.RPS != 2 {
		t.Errorf("after Forget(a): %+v, want only b's sample", got)
	}
	tb.Forget("b")
	if snap := tb.Snapshot(t0); len(snap) != 0 {
		t.Errorf("after forgetting everyone: %v", snap)
	}
}

func TestTableCPU(t *testing.T) {
	tb := NewTable()
	tb.SetCPU("10.0.0.1", 1.5, t0)
	tb.SetCPU("10.0.0.2", 0.25, t0)
	tb.SetCPU("10.0.0.3", 2, t0)
	tb.SetCPU("10.0.0.3", math.NaN(), t0) // forgets
	tb.SetCPU("10.0.0.4", math.Inf(1), t0)
	tb.SetCPU("10.0.0.5", -1, t0)
	tb.Add("a", "10.0.0.2", Sample{Issued: 1, Interval: time.Second}, t0)
	tb.Add("a", "10.0.0.6", Sample{Issued: 1, Interval: time.Second}, t0)

	snap := tb.Snapshot(t0.Add(time.Second))
	if got := snap["10.0.0.1"]; got != (Load{CPU: 1.5}) {
		t.Errorf("CPU only: %+v", got)
	}
	if got := snap["10.0.0.2"]; got.CPU != 0.25 || got.Reporters != 1 {
		t.Errorf("CPU and a report: %+v", got)
	}
	if got := snap["10.0.0.6"]; got.CPU != -1 {
		t.Errorf("unknown CPU = %v, want -1", got.CPU)
	}
	for _, ip := range []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"} {
		if l, ok := snap[ip]; ok {
			t.Errorf("%s: bad CPU figure kept: %+v", ip, l)
		}
	}
	if _, ok := tb.Snapshot(t0.Add(CPUMaxAge + time.Second))["10.0.0.1"]; ok {
		t.Error("CPU figure older than CPUMaxAge kept")
	}
}

func TestTableIgnoresSampleWithoutInterval(t *testing.T) {
	tb := NewTable()
	tb.Add("a", "10.0.0.1", Sample{Issued: 1}, t0)
	tb.Add("a", "10.0.0.2", Sample{Issued: 1, Interval: -time.Second}, t0)
	if snap := tb.Snapshot(t0); len(snap) != 0 {
		t.Errorf("samples without an interval counted: %v", snap)
	}
}

func TestTableHugeCountsStayFinite(t *testing.T) {
	tb := NewTable()
	tb.Add("a", "10.0.0.1", Sample{Issued: math.MaxUint64, Succeeded: math.MaxUint64, Errors: math.MaxUint64,
		InProgress: math.MaxUint64, Interval: time.Nanosecond}, t0)
	l := tb.Snapshot(t0)["10.0.0.1"]
	for _, v := range []float64{l.RPS, l.InFlight, l.ErrorRate} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite load from huge counts: %+v", l)
		}
	}
}

func TestTableConcurrent(t *testing.T) {
	tb := NewTable()
	var wg sync.WaitGroup
	for r := range 8 {
		wg.Go(func() {
			rep := fmt.Sprint("r", r)
			for i := range 200 {
				tb.Add(rep, fmt.Sprint("10.0.0.", i%10), Sample{Issued: 1, InProgress: 1, Interval: time.Second}, t0)
				if i%50 == 0 {
					tb.SetCPU(fmt.Sprint("10.0.0.", i%10), 0.5, t0)
					tb.Snapshot(t0)
				}
			}
		})
	}
	wg.Wait()
	snap := tb.Snapshot(t0)
	for i := range 10 {
		if got := snap[fmt.Sprint("10.0.0.", i)]; got.Reporters != 8 || got.InFlight != 8 {
			t.Errorf("10.0.0.%d = %+v, want 8 reporters, 8 in flight", i, got)
		}
	}
}

// BenchmarkTableSnapshot sums 100 reporters' samples of 10,000 endpoints
// (each reporter sees 1000 of them).
func BenchmarkTableSnapshot(b *testing.B) {
	tb := NewTable()
	for r := range 100 {
		for i := range 1000 {
			n := (r*1000 + i*7) % 10000
			tb.Add(fmt.Sprint("node", r), fmt.Sprintf("10.0.%d.%d", n/250, n%250), Sample{Issued: 10, Succeeded: 10, InProgress: 1, Interval: time.Second}, t0)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		tb.Snapshot(t0)
	}
}
