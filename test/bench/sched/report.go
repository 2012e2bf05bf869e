package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// Targets and anchors from issue 6.
const (
	targetPodsPerSecond = 1000
	anchorText          = "kube-scheduler's own CI thresholds at 5000 nodes: 680–810 pods/s, basic scheduling (an anchor, not measured here)"
)

func report(w io.Writer, c config, r *results) {
	first, lastCreated, lastBound := r.createStart[0], r.createDone[0], r.boundSeen[0]
	lat := make([]time.Duration, len(r.boundSeen))
	for j := range r.boundSeen {
		if r.createStart[j].Before(first) {
			first = r.createStart[j]
		}
		if r.createDone[j].After(lastCreated) {
			lastCreated = r.createDone[j]
		}
		if r.boundSeen[j].After(lastBound) {
			lastBound = r.boundSeen[j]
		}
		lat[j] = r.boundSeen[j].Sub(r.createStart[j])
	}
	elapsed := lastBound.Sub(first)
	rate := float64(c.pods) / elapsed.Seconds()
	p50, p99 := benchenv.DurationQuantile(lat, 0.50), benchenv.DurationQuantile(lat, 0.99)
	met := "yes"
	if rate < targetPodsPerSecond {
		met = "**no**"
	}

	fmt.Fprintf(w, "Scheduler: %d bare pods (no ReplicaSet or Deployment; requests %s) created by %d concurrent creators through the registry onto %d simulated nodes "+
		"(capacity %s, every 10th node small; Leases renewed every %s with a load report; no processes). "+
		"Scheduler (%s), registry, caches and embedded etcd (fsync on) in one process; %d CPUs, %s, load average %.2f before the burst.\n\n",
		c.pods, shapesText(), c.creators, c.nodes, nodeShapesText(), c.leaseInterval, bindersText(c.binders), runtime.NumCPU(), runtime.Version(), r.load[0])
	fmt.Fprintln(w, "| measurement | nodes | pods | pods/s | p50 | p99 | target | met? | anchor |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|---|---|---|")
	fmt.Fprintf(w, "| scheduling: first pod's create → last pod bound (pods/s); per pod, create call → binding seen in the pod watch (p50, p99) | %d | %d | %.0f | %s | %s | ≥ %d pods/s | %s | %s |\n",
		c.nodes, c.pods, rate, ms(p50), ms(p99), targetPodsPerSecond, met, anchorText)

	// Where the time went.
	createRate := float64(c.pods) / lastCreated.Sub(first).Seconds()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| detail | |")
	fmt.Fprintln(w, "|---|--:|")
	fmt.Fprintf(w, "| first create → last create returned | %s (%.0f pods/s created) |\n", round(lastCreated.Sub(first)), createRate)
	drained := 0
	for _, t := range r.boundSeen {
		if t.After(lastCreated) {
			drained++
		}
	}
	if d := lastBound.Sub(lastCreated); drained > 0 && d > 0 {
		fmt.Fprintf(w, "| last create returned → last pod bound (the creators idle: the scheduler's own pace) | %s (%d pods, %.0f pods/s) |\n", round(d), drained, float64(drained)/d.Seconds())
	} else {
		fmt.Fprintln(w, "| last create returned → last pod bound | 0 (bound as fast as created) |")
	}
	fmt.Fprintf(w, "| most pods created and not yet bound at once | %d |\n", maxBacklog(r))
	if q50, ok := r.metrics.HistogramQuantile(0.5, "shoal_scheduler_pod_scheduling_duration_seconds"); ok {
		q99, _ := r.metrics.HistogramQuantile(0.99, "shoal_scheduler_pod_scheduling_duration_seconds")
		fmt.Fprintf(w, "| scheduler's `pod_scheduling_duration_seconds` (first seen pending → bind returned; bucket-interpolated) p50 / p99 | %s / %s |\n", secs(q50), secs(q99))
	}
	if q50, ok := r.metrics.HistogramQuantile(0.5, "shoal_scheduler_attempt_duration_seconds", "result", "scheduled"); ok {
		q99, _ := r.metrics.HistogramQuantile(0.99, "shoal_scheduler_attempt_duration_seconds", "result", "scheduled")
		fmt.Fprintf(w, "| scheduler's `attempt_duration_seconds{result=scheduled}` (off the queue → bind returned; bucket-interpolated) p50 / p99 | %s / %s |\n", secs(q50), secs(q99))
	}
	var attempts []string
	for _, res := range []string{"scheduled", "unschedulable", "error"} {
		v, _ := r.metrics.Value("shoal_scheduler_schedule_attempts_total", "result", res)
		attempts = append(attempts, fmt.Sprintf("%s %.0f", res, v))
	}
	fmt.Fprintf(w, "| scheduling attempts | %s |\n", strings.Join(attempts, ", "))
	fmt.Fprintf(w, "| process CPU over the burst (etcd included) | %.1f s in %s = %.2f of %d cores |\n",
		r.cpu.Seconds(), round(elapsed), r.cpu.Seconds()/elapsed.Seconds(), runtime.NumCPU())
	fmt.Fprintf(w, "| Lease renewals with load reports meanwhile | ~%.0f writes/s |\n", float64(c.nodes)/c.leaseInterval.Seconds())
	var logs []string
	for _, k := range sortedKeys(r.logs) {
		logs = append(logs, fmt.Sprintf("%q × %d", k, r.logs[k]))
	}
	if len(logs) == 0 {
		logs = []string{"none"}
	}
	fmt.Fprintf(w, "| scheduler log messages (Info and above) | %s |\n", strings.Join(logs, ", "))
	pl := checkPlacements(c, r)
	fmt.Fprintf(w, "| placements: nodes over allocatable CPU, memory or pods | %d |\n", pl.overcommitted)
	fmt.Fprintf(w, "| placements: pods per node min / median / max | %d / %d / %d |\n", pl.minPods, pl.medianPods, pl.maxPods)
	fmt.Fprintf(w, "| placements: nodes with no room left for a %s pod | %d of %d |\n", podShapes[3], pl.full, c.nodes)
	fmt.Fprintf(w, "| setup (not measured above): %d nodes and their Leases created | %s |\n", c.nodes, round(r.nodeSetup))
}

type placements struct {
	overcommitted, full          int
	minPods, medianPods, maxPods int
}

// checkPlacements adds up the requests bound to each node and checks them
// against its allocatable: the scheduler must never overcommit.
func checkPlacements(c config, r *results) placements {
	idx := map[string]int{}
	for i := range c.nodes {
		idx[nodeName(i)] = i
	}
	used := make([]shape, c.nodes)
	count := make([]int, c.nodes)
	var p placements
	for j, n := range r.boundNode {
		i, ok := idx[n]
		if !ok {
			p.overcommitted++ // bound to a node that does not exist
			continue
		}
		s := podShapes[j%len(podShapes)]
		used[i].milliCPU += s.milliCPU
		used[i].memory += s.memory
		count[i]++
	}
	big := podShapes[3]
	for i := range c.nodes {
		cap := nodeShape(i)
		if used[i].milliCPU > cap.milliCPU || used[i].memory > cap.memory || count[i] > maxPodsPerNode {
			p.overcommitted++
		}
		if used[i].milliCPU+big.milliCPU > cap.milliCPU || used[i].memory+big.memory > cap.memory {
			p.full++
		}
	}
	sorted := slices.Clone(count)
	slices.Sort(sorted)
	p.minPods, p.medianPods, p.maxPods = sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1]
	return p
}

// maxBacklog is the most pods that were created (their create returned) and
// not yet seen bound at any one time.
func maxBacklog(r *results) int {
	type ev struct {
		t time.Time
		d int
	}
	evs := make([]ev, 0, 2*len(r.createDone))
	for j := range r.createDone {
		evs = append(evs, ev{r.createDone[j], +1}, ev{r.boundSeen[j], -1})
	}
	slices.SortFunc(evs, func(a, b ev) int { return a.t.Compare(b.t) })
	n, most := 0, 0
	for _, e := range evs {
		n += e.d
		most = max(most, n)
	}
	return most
}

func bindersText(n int) string {
	if n == 0 {
		return "default configuration, as `shoal controlplane` runs it"
	}
	return fmt.Sprintf("Binders: %d, otherwise its defaults", n)
}

func shapesText() string {
	var s []string
	for _, p := range podShapes {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ") + " CPU/memory, in turn"
}

func nodeShapesText() string {
	return "1 CPU/2Gi ×10%, 4/8Gi ×50%, 8/16Gi ×30%, 16/32Gi ×10%, 110 pods each"
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func secs(s float64) string { return ms(time.Duration(s * float64(time.Second))) }

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
