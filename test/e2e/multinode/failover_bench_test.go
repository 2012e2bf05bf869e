package multinode

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
)

var failoverRuns = flag.Int("failover-runs", 5, "BenchmarkFailover: how many clusters to build and fail")

// BenchmarkFailover builds -failover-runs two-node clusters one after the
// other (the control plane's default failure detection), SIGKILLs the agent
// of a node that runs some of a 4-replica Deployment's pods in each, and
// prints a table of the times from the SIGKILL until the node was NotReady,
// its pods were out of the EndpointSlices, DNS and EDS, deleted, and
// replaced by pods Running and Ready on the other node: each run, then the
// median. The restarted agent must stop its old pods in each run. `make
// bench-failover` runs it (root, under the shared lock).
func BenchmarkFailover(b *testing.B) {
	var runs []failoverTimes
	for i := range *failoverRuns {
		b.Run(fmt.Sprintf("run-%d", i+1), func(b *testing.B) {
			for b.Loop() {
				c := nodeagenttest.Start(b, nodeagenttest.Options{Nodes: 2, Images: images(b)})
				victim, survivor, old := pickVictim(b, c, failoverSetup(b, c))
				r := killAndMeasure(b, c, victim, survivor, 90*time.Second)
				checkRestartedVictim(b, c, victim, old)
				runs = append(runs, r)
				b.ReportMetric(r.eds.Seconds(), "eds-s")
				b.ReportMetric(r.replaced.Seconds(), "replaced-s")
			}
		})
	}
	if len(runs) > 0 {
		fmt.Fprint(os.Stdout, failoverTable(runs))
	}
}

// failoverTable is a Markdown table of runs and their medians.
func failoverTable(runs []failoverTimes) string {
	var b strings.Builder
	col := func(f func(failoverTimes) time.Duration) []time.Duration {
		var out []time.Duration
		for _, r := range runs {
			out = append(out, f(r))
		}
		return out
	}
	cols := []struct {
		name string
		f    func(failoverTimes) time.Duration
	}{
		{"node NotReady", func(r failoverTimes) time.Duration { return r.notReady }},
		{"out of EndpointSlices", func(r failoverTimes) time.Duration { return r.slices }},
		{"out of DNS", func(r failoverTimes) time.Duration { return r.dns }},
		{"out of EDS", func(r failoverTimes) time.Duration { return r.eds }},
		{"pods deleted", func(r failoverTimes) time.Duration { return r.evicted }},
		{"replacements Ready", func(r failoverTimes) time.Duration { return r.replaced }},
	}
	fmt.Fprintf(&b, "\nSIGKILL of a node agent, %d replicas over 2 nodes; seconds after the kill\n\n| run |", failoverReplicas)
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for i, r := range runs {
		fmt.Fprintf(&b, "| %d |", i+1)
		for _, c := range cols {
			fmt.Fprintf(&b, " %.2f |", c.f(r).Seconds())
		}
		b.WriteString("\n")
	}
	b.WriteString("| **median** |")
	for _, c := range cols {
		fmt.Fprintf(&b, " **%.2f** |", median(col(c.f)).Seconds())
	}
	b.WriteString("\n")
	return b.String()
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
