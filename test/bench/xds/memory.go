package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// memory is the server process's memory at one point.
type memory struct {
	rss     int64                 // VmRSS, the median of 3 readings, after a GC and an idle settle
	file    int64                 // RssFile at the same time (mapped files: etcd's bbolt database, the binary)
	heap    float64               // go_memstats_heap_alloc_bytes just after a GC
	stacks  float64               // go_memstats_stack_inuse_bytes at the same scrape
	gcs     int                   // GCs waited for
	lists   int                   // list requests made to get them
	streams [numProtocols]float64 // open xDS streams by protocol
}

// measure waits for the server to go idle, makes it collect garbage and
// reads its Go heap, then lets it settle idle and reads its RSS. Every
// reading goes through the same steps, so the Go runtime is in the same
// state at each (heap just collected, its goal twice the live heap under
// GOGC=100, then settle of idle time for the scavenger to return memory).
func measure(ctx context.Context, sh *benchenv.Shoal, settle time.Duration) (memory, error) {
	if err := sleep(ctx, settle/2); err != nil {
		return memory{}, err
	}
	m, err := collect(ctx, sh)
	if err != nil {
		return m, err
	}
	if err := sleep(ctx, settle); err != nil {
		return m, err
	}
	var rss []map[string]int64
	for i := range 3 {
		if i > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		st := benchenv.ProcStatus(sh.Pid())
		if st["VmRSS"] == 0 {
			return m, fmt.Errorf("cannot read /proc/%d/status", sh.Pid())
		}
		rss = append(rss, st)
	}
	slices.SortFunc(rss, func(a, b map[string]int64) int { return cmp.Compare(a["VmRSS"], b["VmRSS"]) })
	m.rss, m.file = rss[1]["VmRSS"], rss[1]["RssFile"]
	fmt.Fprintf(os.Stderr, "  memory: RSS %.1f MiB (file-backed %.1f MiB), heap %.1f MiB, stacks %.1f MiB after %d GCs (%d list requests), %v sotw and %v delta streams\n",
		float64(m.rss)/(1<<20), float64(m.file)/(1<<20), m.heap/(1<<20), m.stacks/(1<<20), m.gcs, m.lists, m.streams[sotw], m.streams[delta])
	return m, nil
}

// collect makes the server collect garbage and reads its heap right after.
//
// The server has no endpoint that forces a GC, so it is provoked by
// allocation: EndpointSlice lists through the API (each allocates MBs in
// the server) until a first GC completes; then lists again until the heap
// is nearly halfway from that GC's live heap to the next goal (with room
// for two more lists, the most one list was seen to allocate), and from
// there only /metrics scrapes (a few hundred KB each) until the second GC
// completes; the Go pacer starts a GC no earlier than 70% of the way.
// Once a scrape shows it, and a second of idle has let the sweeper free
// the garbage (heap_alloc counts unswept objects), heap_alloc is read.
// What is counted as live beyond the truly live heap is what the server
// allocated during that GC's mark phase and after it: a few scrapes'
// worth, about 1 MB.
func collect(ctx context.Context, sh *benchenv.Shoal) (memory, error) {
	var m memory
	start, err := sh.Metrics(ctx)
	if err != nil {
		return m, err
	}
	gc0, ok := start.Value("go_gc_duration_seconds_count")
	if !ok {
		return m, fmt.Errorf("/metrics has no go_gc_duration_seconds_count")
	}
	deadline := time.Now().Add(90 * time.Second)
	heavy := true
	var live, goal, step, prev float64
	prevGC := gc0
	for i := 0; ; i++ {
		if heavy {
			m.lists++
			if _, err := sh.Get(ctx, "/apis/discovery.k8s.io/v1/endpointslices"); err != nil {
				return m, err
			}
		}
		cur, err := sh.Metrics(ctx)
		if err != nil {
			return m, err
		}
		gc, _ := cur.Value("go_gc_duration_seconds_count")
		alloc, _ := cur.Value("go_memstats_heap_alloc_bytes")
		if heavy && gc == prevGC && prev > 0 {
			step = max(step, alloc-prev)
		}
		prev, prevGC = alloc, gc
		if verbose {
			goalNow, _ := cur.Value("go_memstats_next_gc_bytes")
			fmt.Fprintf(os.Stderr, "    i=%d heavy=%v gc=%v alloc=%.1f goal=%.1f step=%.1f\n", i, heavy, gc-gc0, alloc/(1<<20), goalNow/(1<<20), step/(1<<20))
		}
		switch {
		case gc >= gc0+2:
			// heap_alloc still counts garbage the sweeper has not freed
			// yet; the server is idle now, so a second is plenty for it.
			if err := sleep(ctx, time.Second); err != nil {
				return m, err
			}
			if cur, err = sh.Metrics(ctx); err != nil {
				return m, err
			}
			gc, _ = cur.Value("go_gc_duration_seconds_count")
			m.gcs = int(gc - gc0)
			m.heap, _ = cur.Value("go_memstats_heap_alloc_bytes")
			m.stacks, _ = cur.Value("go_memstats_stack_inuse_bytes")
			m.streams[sotw], _ = cur.Value("shoal_xds_streams", "protocol", "sotw")
			m.streams[delta], _ = cur.Value("shoal_xds_streams", "protocol", "delta")
			if verbose {
				goal, _ := cur.Value("go_memstats_next_gc_bytes")
				gogc, _ := cur.Value("go_gc_gogc_percent")
				fmt.Fprintf(os.Stderr, "    swept: heap_alloc %.1f MiB; goal %.1f MiB, GOGC %.0f → live at most %.1f MiB\n",
					m.heap/(1<<20), goal/(1<<20), gogc, goal/(1+gogc/100)/(1<<20))
			}
			return m, nil
		case gc >= gc0+1:
			if goal == 0 {
				live = alloc
				goal, _ = cur.Value("go_memstats_next_gc_bytes")
			}
			heavy = alloc+2*step < live+(goal-live)/2
		}
		if time.Now().After(deadline) || i >= 50000 {
			return m, fmt.Errorf("the server did not collect garbage twice in 90 s of requests")
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
