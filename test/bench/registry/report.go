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
)

type report struct {
	n, c             int
	etcdSeq, etcdPar throughput
	apiSeq, apiPar   throughput
	// apiBare*: Services without a selector, for which no controller writes.
	apiBareSeq, apiBarePar throughput
	watch                  watchResult
	serviceBytes           int // one created Service as stored in etcd
	loadBefore             string
	elapsed                time.Duration
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "## Shoal registry benchmark\n\n")
	fmt.Fprintf(w, "- machine: %d CPUs (nproc), GOMAXPROCS %d, %s, %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "- %s; etcd %s embedded (one member, fsync on); etcd, Shoal's API server and the clients share this process\n", runtime.Version(), version.Version)
	fmt.Fprintf(w, "- 1-minute load average before the run: %s (other work on the machine lowers every number)\n", r.loadBefore)
	fmt.Fprintf(w, "- a created Service is %d bytes in etcd\n", r.serviceBytes)
	fmt.Fprintf(w, "- -n %d operations per measurement, -c %d; run took %.1fs\n\n", r.n, r.c, r.elapsed.Seconds())

	fmt.Fprintf(w, "| writes/s | sequential | %d concurrent |\n|---|--:|--:|\n", r.c)
	fmt.Fprintf(w, "| etcd Put, 1 KiB value (clientv3, one client) | %.0f | %.0f |\n", r.etcdSeq.perSecond(), r.etcdPar.perSecond())
	fmt.Fprintf(w, "| Shoal API create Service without selector, ClusterIP allocated (client-go, HTTPS, token; one client each) | %.0f | %.0f |\n", r.apiBareSeq.perSecond(), r.apiBarePar.perSecond())
	fmt.Fprintf(w, "| API / etcd (target ≥ 50%%) | %s | %s |\n", ratio(r.apiBareSeq, r.etcdSeq), ratio(r.apiBarePar, r.etcdPar))
	fmt.Fprintf(w, "| Shoal API create Service with selector (the controllers then write its EndpointSlice and Endpoints: 3 etcd writes) | %.0f | %.0f |\n", r.apiSeq.perSecond(), r.apiPar.perSecond())
	fmt.Fprintf(w, "| API / etcd | %s | %s |\n\n", ratio(r.apiSeq, r.etcdSeq), ratio(r.apiPar, r.etcdPar))

	fmt.Fprintf(w, "| watch delivery, Service Update → informer UpdateFunc (%d updates, one at a time) | p50 | p90 | p99 | max |\n|---|--:|--:|--:|--:|\n", r.watch.fromCall.n)
	row := func(name string, l latencies) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max))
	}
	row("from just before the Update call (target p99 < 50 ms)", r.watch.fromCall)
	row("from when the Update call returned", r.watch.fromReturn)
}

func ratio(api, etcd throughput) string {
	p := 100 * api.perSecond() / etcd.perSecond()
	verdict := "meets"
	if p < 50 {
		verdict = "below"
	}
	return fmt.Sprintf("%.1f%% (%s)", p, verdict)
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
