package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/version"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

type report struct {
	n, c, rounds int
	cpuProfile   string // where to write a profile of round 1's c-way creates
	writes       writes
	watch        watchResult
	serviceBytes int // one created Service as stored in etcd
	loadBefore   string
	elapsed      time.Duration
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "## Shoal registry benchmark\n\n")
	fmt.Fprintf(w, "- machine: %d CPUs (nproc), GOMAXPROCS %d, %s, %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "- %s; etcd %s embedded (one member, fsync on); etcd, Shoal's API server and the clients share this process\n", runtime.Version(), version.Version)
	fmt.Fprintf(w, "- 1-minute load average before the run: %s (other work on the machine lowers every number)\n", r.loadBefore)
	fmt.Fprintf(w, "- a created Service is %d bytes in etcd\n", r.serviceBytes)
	fmt.Fprintf(w, "- -n %d operations per measurement, -c %d; run took %.1fs\n\n", r.n, r.c, r.elapsed.Seconds())

	fmt.Fprintf(w, "Writes: %d interleaved rounds of %d each; each figure the median over the rounds and (in brackets) the lowest and the highest. "+
		"CPU: the whole process's (etcd, API server, controllers, DNS and xDS watchers, clients) per write. The ratio is taken per round.\n\n", r.rounds, r.n)
	fmt.Fprintf(w, "| writes/s | sequential | %d concurrent | CPU µs/write, %d concurrent |\n|---|--:|--:|--:|\n", r.c, r.c)
	row := func(name string, seq, par int) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, spread(r.writes.perSecond(seq), "%.0f"), spread(r.writes.perSecond(par), "%.0f"),
			spread(r.writes.cpuPerOp(par), "%.0f"))
	}
	ratioRow := func(seq, par int) {
		fmt.Fprintf(w, "| API / etcd | %s | %s | |\n", ratio(r.writes.ratio(seq, etcdSeq)), ratio(r.writes.ratio(par, etcdPar)))
	}
	row("etcd Put, 1 KiB value (clientv3, one client)", etcdSeq, etcdPar)
	row("Shoal API create Service without selector, ClusterIP allocated (client-go, HTTPS, token; one client each)", bareSeq, barePar)
	fmt.Fprintf(w, "| API / etcd (target ≥ 50%%) | %s | %s | |\n", ratio(r.writes.ratio(bareSeq, etcdSeq)), ratio(r.writes.ratio(barePar, etcdPar)))
	row("Shoal API create Service with selector (the controllers then write its EndpointSlice and Endpoints: 3 etcd writes)", selSeq, selPar)
	ratioRow(selSeq, selPar)
	fmt.Fprintln(w)

	fmt.Fprintf(w, "| watch delivery, Service Update → informer UpdateFunc (%d updates, one at a time) | p50 | p90 | p99 | max |\n|---|--:|--:|--:|--:|\n", r.watch.fromCall.n)
	lat := func(name string, l latencies) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max))
	}
	lat("from just before the Update call (target p99 < 50 ms)", r.watch.fromCall)
	lat("from when the Update call returned", r.watch.fromReturn)
}

func ratio(sp benchenv.Spread) string {
	verdict := "meets"
	if sp.Median < 50 {
		verdict = "below"
	}
	return fmt.Sprintf("%.1f%% (%.1f–%.1f%%; %s)", sp.Median, sp.Min, sp.Max, verdict)
}

// spread formats a median and its range with format.
func spread(sp benchenv.Spread, format string) string {
	return fmt.Sprintf(format+" ("+format+"–"+format+")", sp.Median, sp.Min, sp.Max)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// cpuModel is the first "model name" in /proc/cpuinfo, where there is one.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
