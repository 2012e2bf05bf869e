package main

import (
	"fmt"
	"io"
	"runtime"
	"time"
)

// report prints the table: per server the median throughput round, the
// latencies at the common load, the memory, and Shoal's ratios to CoreDNS.
func report(w io.Writer, o options, pin cpus, servers []*server) {
	fmt.Fprintf(w, "\nDNS: %d services × %d endpoints (every 10th headless), query mix 40%% A / 20%% SRV / 20%% PTR / 20%% NXDOMAIN, no cache.\n", o.services, o.endpoints)
	fmt.Fprintf(w, "QPS: dnsperf -q %d for %v, median of %d rounds; latency: dnsperf -v at %d q/s for both; %d CPUs", o.outstanding, o.duration, o.rounds, o.latencyQPS, runtime.NumCPU())
	if pin.server != "" {
		fmt.Fprintf(w, " (servers on CPU %s, dnsperf on CPU %s)", pin.server, pin.client)
	}
	fmt.Fprint(w, "\n\n| server | QPS | p50 | p99 | RSS | peak RSS | answers |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, s := range servers {
		m := s.median()
		fmt.Fprintf(w, "| %s | %.0f | %v | %v | %.1f MiB | %.1f MiB | %s |\n", s.name, m.qps, round(s.latency.p50), round(s.latency.p99),
			float64(s.rss)/(1<<20), float64(s.peak)/(1<<20), m.rcodes)
	}
	if len(servers) == 2 {
		a, b := servers[0], servers[1]
		fmt.Fprintf(w, "\nShoal / CoreDNS: QPS %.2f× (target ≥ 1.5×), p99 %.2f× (target ≤ 1), RSS %.2f×\n",
			a.median().qps/b.median().qps, float64(a.latency.p99)/float64(b.latency.p99), float64(a.rss)/float64(b.rss))
	}
}

func round(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}
