package balancer

import (
	"sync"
	"testing"
	"unsafe"
)

func TestHostStats(t *testing.T) {
	c := New(Options{ConsecutiveFailures: -1})
	c.Update(endpoints(1, 1))
	h := c.Hosts()[0]
	for i := range 5 {
		h.Begin()
		h.Report(i != 4)
	}
	h.End()
	h.End()
	if got, want := h.Stats(), (HostStats{Issued: 5, Succeeded: 4, Errors: 1, Active: 3}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if got := c.Hosts()[1].Stats(); got != (HostStats{}) {
		t.Errorf("untouched host: Stats = %+v, want zero", got)
	}

	// A removed host keeps counting the work that ends on it, and a host
	// that stays keeps its counts.
	kept := c.Hosts()[1]
	kept.Begin()
	c.Update(endpoints(1, 1)[1:])
	if hs := c.Hosts(); len(hs) != 1 || hs[0] != kept || kept.Stats().Issued != 1 {
		t.Fatalf("after removing host 0: hosts %v, kept host issued %d", hs, kept.Stats().Issued)
	}
	h.Report(true)
	h.End()
	if got, want := h.Stats(), (HostStats{Issued: 5, Succeeded: 5, Errors: 1, Active: 2}); got != want {
		t.Errorf("removed host: Stats = %+v, want %+v", got, want)
	}
}

func TestHostStatsConcurrent(t *testing.T) {
	c := New(Options{ConsecutiveFailures: -1})
	c.Update(endpoints(1))
	h := c.Hosts()[0]
	const workers, n = 4, 10000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range n {
				h.Begin()
				h.Report((w+i)%3 != 0)
				h.End()
			}
		})
	}
	// Whatever the moment, nothing is finished that was not issued.
	for range 1000 {
		s := h.Stats()
		if s.Succeeded+s.Errors > s.Issued {
			t.Fatalf("Stats = %+v: more finished than issued", s)
		}
	}
	wg.Wait()
	s := h.Stats()
	if s.Issued != workers*n || s.Succeeded+s.Errors != workers*n || s.Active != 0 {
		t.Errorf("Stats = %+v after %d requests", s, workers*n)
	}
}

// The hot counters must share one cache line and no other host's: see Host.
func TestHostLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is planned for 64-bit platforms")
	}
	var h Host
	if size := unsafe.Sizeof(h); size != 192 {
		t.Errorf("Host is %d bytes, want 192", size)
	}
	if off := unsafe.Offsetof(h.rttSum); off != 128 {
		t.Errorf("Host.rttSum at offset %d, want 128", off)
	}
	if off := unsafe.Offsetof(h.active); off != 64 {
		t.Errorf("Host.active at offset %d, want 64", off)
	}
	if end := unsafe.Offsetof(h.consecutiveFailures) + unsafe.Sizeof(h.consecutiveFailures); end > 128 {
		t.Errorf("hot counters end at %d, past the second cache line", end)
	}
}
