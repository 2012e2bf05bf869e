package balancer

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func addr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 8080)
}

func endpoints(weights ...uint32) []Endpoint {
	eps := make([]Endpoint, len(weights))
	for i, w := range weights {
		eps[i] = Endpoint{Addr: addr(i), Weight: w}
	}
	return eps
}

// counts picks n times, beginning and ending each pick at once.
func counts(t *testing.T, c *Balancer, n int) map[netip.AddrPort]int {
	t.Helper()
	got := map[netip.AddrPort]int{}
	for range n {
		h, ok := c.Pick(nil)
		if !ok {
			t.Fatal("Pick failed")
		}
		got[h.Addr()]++
	}
	return got
}

func TestDistributionFollowsWeights(t *testing.T) {
	for _, tc := range []struct {
		mode    Mode
		weights []uint32
	}{
		{LeastRequest, []uint32{1, 1, 1}},
		{LeastRequest, []uint32{1, 2, 7}},
		{LeastRequest, []uint32{0, 3}}, // zero counts as 1
		{LeastRequest, []uint32{5, 1, 1, 1, 1, 1, 40}},
		{RoundRobin, []uint32{1, 1, 1}},
		{RoundRobin, []uint32{1, 2, 7}},
		{RoundRobin, []uint32{100, 300}},
	} {
		t.Run(fmt.Sprintf("%v%v", tc.mode, tc.weights), func(t *testing.T) {
			c := New(Options{Mode: tc.mode})
			c.Update(endpoints(tc.weights...))
			const n = 100000
			got := counts(t, c, n)
			var total float64
			for _, w := range tc.weights {
				total += float64(max(w, 1))
			}
			for i, w := range tc.weights {
				want := float64(max(w, 1)) / total
				share := float64(got[addr(i)]) / n
				if math.Abs(share-want) > 0.02 {
					t.Errorf("host %d (weight %d): share %.3f, want %.3f", i, w, share, want)
				}
			}
		})
	}
}

func TestRoundRobinInterleaves(t *testing.T) {
	c := New(Options{Mode: RoundRobin})
	c.Update(endpoints(100, 100, 200))
	// Within any 40 consecutive picks every host appears: big weights do
	// not turn into long runs on one host.
	seen := map[netip.AddrPort]bool{}
	for range 40 {
		h, _ := c.Pick(nil)
		seen[h.Addr()] = true
	}
	if len(seen) != 3 {
		t.Fatalf("40 round-robin picks reached %d hosts, want 3", len(seen))
	}
}

func TestP2CAvoidsLoadedHost(t *testing.T) {
	c := New(Options{})
	c.Update(endpoints(1, 1, 1, 1))
	busy := c.Hosts()[0]
	for range 50 {
		busy.Begin()
	}
	got := counts(t, c, 10000)
	// P2C picks the busy host only when both draws are it, which cannot
	// happen with distinct draws.
	if got[busy.Addr()] != 0 {
		t.Fatalf("busy host picked %d times", got[busy.Addr()])
	}
}

func TestP2CBalancesHeldWork(t *testing.T) {
	// Picks that hold their host keep the active counts level, by weight.
	c := New(Options{})
	c.Update(endpoints(1, 1, 2))
	for range 4000 {
		h, _ := c.Pick(nil)
		h.Begin()
	}
	hs := c.Hosts()
	for i, want := range []int64{1000, 1000, 2000} {
		if a := hs[i].Active(); math.Abs(float64(a-want)) > float64(want)/10 {
			t.Errorf("host %d active %d, want about %d", i, a, want)
		}
	}
}

func TestDrainingNeverPicked(t *testing.T) {
	for _, mode := range []Mode{LeastRequest, RoundRobin} {
		c := New(Options{Mode: mode})
		eps := endpoints(1, 5, 1)
		eps[1].Draining = true
		c.Update(eps)
		if got := counts(t, c, 10000); got[addr(1)] != 0 {
			t.Errorf("%v: draining host picked %d times", mode, got[addr(1)])
		}
		c.Update([]Endpoint{{Addr: addr(0), Draining: true}})
		if h, ok := c.Pick(nil); ok {
			t.Errorf("%v: picked %v from an all-draining set", mode, h.Addr())
		}
	}
}

func TestExclude(t *testing.T) {
	for _, mode := range []Mode{LeastRequest, RoundRobin} {
		c := New(Options{Mode: mode})
		c.Update(endpoints(1, 1, 1))
		for range 1000 {
			h, ok := c.Pick(func(a netip.AddrPort) bool { return a != addr(2) })
			if !ok || h.Addr() != addr(2) {
				t.Fatalf("%v: got %v %v, want %v", mode, h, ok, addr(2))
			}
		}
		if _, ok := c.Pick(func(netip.AddrPort) bool { return true }); ok {
			t.Fatalf("%v: picked with everything excluded", mode)
		}
	}
}

func TestEmpty(t *testing.T) {
	c := New(Options{})
	if _, ok := c.Pick(nil); ok {
		t.Fatal("picked from an empty cluster")
	}
}

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func fail(h *Host, n int) {
	for range n {
		h.Report(false)
	}
}

func TestOutlierEjection(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.now})
	c.Update(endpoints(1, 1, 1, 1))
	bad := c.Hosts()[1]

	fail(bad, 4)
	bad.Report(true) // a success resets the streak
	fail(bad, 4)
	if bad.Ejected() {
		t.Fatal("ejected after 4 consecutive failures")
	}
	fail(bad, 1)
	if !bad.Ejected() {
		t.Fatal("not ejected after 5 consecutive failures")
	}
	if got := counts(t, c, 5000); got[bad.Addr()] != 0 {
		t.Fatalf("ejected host picked %d times", got[bad.Addr()])
	}

	clk.advance(29 * time.Second)
	if !bad.Ejected() {
		t.Fatal("back before the 30s base ejection time")
	}
	clk.advance(time.Second)
	if bad.Ejected() {
		t.Fatal("still ejected after 30s")
	}
	if got := counts(t, c, 5000); got[bad.Addr()] == 0 {
		t.Fatal("host not picked again after its ejection ended")
	}

	// The second ejection lasts twice as long.
	fail(bad, 5)
	clk.advance(59 * time.Second)
	if !bad.Ejected() {
		t.Fatal("second ejection shorter than 60s")
	}
	clk.advance(time.Second)
	if bad.Ejected() {
		t.Fatal("second ejection longer than 60s")
	}
}

func TestOutlierEjectionCap(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.now})
	c.Update(endpoints(1, 1, 1, 1, 1))
	hs := c.Hosts()
	for _, h := range hs {
		fail(h, 10)
	}
	ejected := 0
	for _, h := range hs {
		if h.Ejected() {
			ejected++
		}
	}
	if ejected != 2 { // 50% of 5, rounded down
		t.Fatalf("%d of 5 hosts ejected, want 2", ejected)
	}
	// The rest still serve.
	if _, ok := c.Pick(nil); !ok {
		t.Fatal("no host left to pick")
	}

	// A single host is never ejected.
	one := New(Options{Now: clk.now})
	one.Update(endpoints(1))
	fail(one.Hosts()[0], 100)
	if one.Hosts()[0].Ejected() {
		t.Fatal("the only host was ejected")
	}
}

func TestOutlierDisabled(t *testing.T) {
	c := New(Options{ConsecutiveFailures: -1})
	c.Update(endpoints(1, 1))
	fail(c.Hosts()[0], 100)
	if c.Hosts()[0].Ejected() {
		t.Fatal("ejected with outlier detection disabled")
	}
}

func TestUpdateKeepsHosts(t *testing.T) {
	clk := newClock()
	c := New(Options{Now: clk.now})
	c.Update(endpoints(1, 1, 1))
	h0, h2 := c.Hosts()[0], c.Hosts()[2]
	h0.Begin()
	h0.Begin()
	fail(h2, 5)
	if !h2.Ejected() {
		t.Fatal("setup: host 2 not ejected")
	}

	// Host 1 goes, host 0 is reweighted and draining, host 3 arrives.
	c.Update([]Endpoint{
		{Addr: addr(0), Weight: 4, Draining: true},
		{Addr: addr(2), Weight: 1},
		{Addr: addr(3), Weight: 1},
		{Addr: addr(3), Weight: 9}, // duplicate, dropped
		{},                         // invalid, dropped
	})
	hs := c.Hosts()
	if len(hs) != 3 {
		t.Fatalf("%d hosts after update, want 3", len(hs))
	}
	if hs[0] != h0 || hs[0].Active() != 2 || hs[0].Weight() != 4 || !hs[0].Draining() {
		t.Errorf("host 0 after update: same=%v active=%d weight=%d draining=%v",
			hs[0] == h0, hs[0].Active(), hs[0].Weight(), hs[0].Draining())
	}
	if hs[1] != h2 || !hs[1].Ejected() {
		t.Errorf("host 2 lost its ejection across the update")
	}
	if hs[2].Active() != 0 || hs[2].Weight() != 1 {
		t.Errorf("new host 3: active=%d weight=%d", hs[2].Active(), hs[2].Weight())
	}
	// Work begun on a host before it drained or left still ends cleanly.
	h0.End()
	h0.End()
	if h0.Active() != 0 {
		t.Errorf("host 0 active %d after End", h0.Active())
	}
}

func TestConcurrent(t *testing.T) {
	for _, mode := range []Mode{LeastRequest, RoundRobin} {
		c := New(Options{Mode: mode})
		c.Update(endpoints(1, 2, 3, 4))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					h, ok := c.Pick(nil)
					if !ok {
						continue
					}
					h.Begin()
					h.Report(g%2 == 0)
					_ = h.Ejected()
					h.End()
				}
			})
		}
		for i := range 200 {
			c.Update(endpoints(uint32(i%5), 1, 2, uint32(i%3))[:2+i%3])
		}
		close(stop)
		wg.Wait()
		for _, h := range c.Hosts() {
			if h.Active() != 0 {
				t.Errorf("%v: host %v active %d after all work ended", mode, h.Addr(), h.Active())
			}
		}
	}
}

func TestPickAllocs(t *testing.T) {
	for _, mode := range []Mode{LeastRequest, RoundRobin} {
		c := New(Options{Mode: mode})
		c.Update(endpoints(1, 2, 3))
		bad := addr(1)
		ex := func(a netip.AddrPort) bool { return a == bad }
		if n := testing.AllocsPerRun(1000, func() { c.Pick(ex) }); n != 0 {
			t.Errorf("%v: Pick allocates %v times", mode, n)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, mode := range []Mode{LeastRequest, RoundRobin} {
		for _, n := range []int{10, 1000} {
			for _, weighted := range []bool{false, true} {
				b.Run(fmt.Sprintf("%v/n=%d/weighted=%v", mode, n, weighted), func(b *testing.B) {
					eps := make([]Endpoint, n)
					for i := range eps {
						eps[i] = Endpoint{Addr: addr(i), Weight: 1}
						if weighted {
							eps[i].Weight = uint32(1 + i%7)
						}
					}
					c := New(Options{Mode: mode})
					c.Update(eps)
					b.ReportAllocs()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							h, ok := c.Pick(nil)
							if !ok {
								b.Fatal("Pick failed")
							}
							h.Begin()
							h.End()
						}
					})
				})
			}
		}
	}
}

// BenchmarkRequest is one request's whole use of the balancer: pick, begin,
// record the response time (HTTP, with rtt), report the outcome, end.
func BenchmarkRequest(b *testing.B) {
	for _, n := range []int{10, 1000} {
		for _, rtt := range []bool{false, true} {
			b.Run(fmt.Sprintf("n=%d/rtt=%v", n, rtt), func(b *testing.B) {
				c := New(Options{})
				c.Update(endpoints(make([]uint32, n)...))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						h, ok := c.Pick(nil)
						if !ok {
							b.Fatal("Pick failed")
						}
						h.Begin()
						if rtt {
							h.Observe(time.Millisecond)
						}
						h.Report(true)
						h.End()
					}
				})
			})
		}
	}
}

// TestPickWeighsActiveWorkByResponseTime: a host 10× slower than its peer
// is not picked just because it is idle; its estimate follows its samples;
// once it fades (no samples for a while) the host is tried again.
func TestPickWeighsActiveWorkByResponseTime(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(Options{Now: func() time.Time { return now }})
	fast, slow := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:80")
	c.Update([]Endpoint{{Addr: fast}, {Addr: slow}})
	hosts := map[netip.AddrPort]*Host{}
	for _, h := range c.Hosts() {
		hosts[h.Addr()] = h
	}
	for range 5 {
		hosts[fast].Begin() // 5 requests in flight on the fast host
	}
	pick := func() netip.AddrPort {
		h, ok := c.Pick(nil)
		if !ok {
			t.Fatal("no pick")
		}
		return h.Addr()
	}
	if got := pick(); got != slow {
		t.Fatalf("without response times: picked %v, want the idle %v", got, slow)
	}
	hosts[fast].Observe(2 * time.Millisecond)
	hosts[slow].Observe(20 * time.Millisecond)
	// (5+1)×2 ms < (0+1)×20 ms.
	for range 10 {
		if got := pick(); got != fast {
			t.Fatalf("with 2 ms vs 20 ms: picked %v, want %v", got, fast)
		}
	}
	if got := hosts[slow].RTT(); got != 20*time.Millisecond {
		t.Errorf("slow host's estimate %v, want its one sample, 20ms", got)
	}
	// Later samples move the estimate a quarter of the way each.
	hosts[slow].Observe(4 * time.Millisecond)
	if got := hosts[slow].RTT(); got != 16*time.Millisecond {
		t.Errorf("slow host's estimate after a 4 ms sample: %v, want 16ms", got)
	}
	// No samples for long: the slow host's estimate fades and it is tried.
	hosts[fast].Observe(2 * time.Millisecond)
	now = now.Add(3 * RTTFade)
	hosts[fast].Observe(2 * time.Millisecond)
	if got := pick(); got != slow {
		t.Errorf("after %v without samples the slow host was not tried (estimate %v)", 3*RTTFade, hosts[slow].RTT())
	}
}

// TestPickSpreadsLikeHostsWithNoisyResponseTimes: hosts whose response
// times differ by noise all get a lone client's sequential requests; none
// is starved for having come out a little slower.
func TestPickSpreadsLikeHostsWithNoisyResponseTimes(t *testing.T) {
	c := New(Options{})
	var eps []Endpoint
	for i := range 3 {
		eps = append(eps, Endpoint{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 80)})
	}
	c.Update(eps)
	for i, h := range c.Hosts() {
		h.Observe(time.Duration(10+i) * time.Millisecond) // 10, 11, 12 ms
	}
	seen := map[netip.AddrPort]int{}
	for range 300 {
		h, ok := c.Pick(nil)
		if !ok {
			t.Fatal("no pick")
		}
		h.Begin()
		seen[h.Addr()]++
		h.End() // sequential: nothing in flight at the next pick
	}
	for _, e := range eps {
		if seen[e.Addr] < 50 {
			t.Errorf("picks %v: %v starved", seen, e.Addr)
		}
	}
}
