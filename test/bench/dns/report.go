package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// report prints the tables: per server the throughput, the latencies at the
// common load and the memory, then the answer checks, then Shoal's ratios
// to CoreDNS.
func report(w io.Writer, o options, pin cpus, qs *querySet, servers []*server) {
	fmt.Fprintf(w, "\nDNS: %d services × %d endpoints (every 10th headless), query mix 40%% A / 20%% SRV / 20%% PTR / 20%% NXDOMAIN, no cache.\n", o.services, o.endpoints)
	fmt.Fprintf(w, "%d interleaved rounds per server, median (min–max): QPS with dnsperf -q %d for %v each; latency with dnsperf -v at %d q/s for both, %v each; %d CPUs",
		o.rounds, o.outstanding, o.duration, o.latencyQPS, o.duration, runtime.NumCPU())
	if pin.server != "" {
		fmt.Fprintf(w, " (servers on CPU %s, dnsperf on CPU %s)", pin.server, pin.client)
	}
	fmt.Fprintf(w, "; 1-minute load average %s at the start, %s at the end (other work on the machine lowers every number)", o.load0, o.load1)
	fmt.Fprint(w, "\n\n| server | QPS | p50 | p99 | lost | RSS | peak RSS | wrong answers |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range servers {
		lost, sent := s.lost()
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d of %d | %.1f MiB | %.1f MiB | %d |\n", s.name,
			spreadOf(s.qps(), func(v float64) string { return fmt.Sprintf("%.0f", v) }),
			spreadOf(s.p50(), seconds), spreadOf(s.p99(), seconds),
			lost, sent, float64(s.rss)/(1<<20), float64(s.peak)/(1<<20), s.wrongAnswers())
	}

	fmt.Fprintf(w, "\nAnswers checked: each of the %d distinct queries asked once (UDP, no EDNS, as dnsperf asks; over TCP again if truncated): right / asked (truncated over UDP).\n\n| query | expected |", len(qs.expect))
	for _, s := range servers {
		fmt.Fprintf(w, " %s |", s.name)
	}
	fmt.Fprint(w, "\n|---|---|")
	for range servers {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, k := range queryKinds {
		fmt.Fprintf(w, "| %s | %s |", k, describe(qs, k))
		for _, s := range servers {
			t := s.check[k]
			fmt.Fprintf(w, " %d / %d", t.checked-t.wrong-t.lost, t.checked)
			if t.truncated > 0 {
				fmt.Fprintf(w, " (%d)", t.truncated)
			}
			fmt.Fprint(w, " |")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| under load: every answer's rcode (latency rounds) | per query |")
	for _, s := range servers {
		answered, bad := 0, 0
		for _, r := range s.latency {
			answered, bad = answered+r.answered, bad+r.wrongRcodes
		}
		fmt.Fprintf(w, " %d / %d |", answered-bad, answered)
	}
	fmt.Fprint(w, "\n| under load: rcode mix (throughput rounds) | NXDOMAIN share of the file |")
	for _, s := range servers {
		fmt.Fprintf(w, " %d / %d rounds |", len(s.results)-len(s.rcodeErrs), len(s.results))
	}
	fmt.Fprintln(w)
	for _, s := range servers {
		for _, k := range queryKinds {
			if t := s.check[k]; t.example != "" {
				fmt.Fprintf(w, "%s, %s: first wrong answer: %s\n", s.name, k, t.example)
			}
		}
		for _, r := range s.latency {
			if r.example != "" {
				fmt.Fprintf(w, "%s under load: first wrong rcode: %s\n", s.name, r.example)
				break
			}
		}
		for _, e := range s.rcodeErrs {
			fmt.Fprintf(w, "%s, throughput %s\n", s.name, e)
		}
	}

	if len(servers) == 2 {
		a, b := servers[0], servers[1]
		ratios := make([]float64, min(len(a.results), len(b.results)))
		for i := range ratios {
			ratios[i] = a.results[i].qps / b.results[i].qps
		}
		r := benchenv.SpreadOf(ratios)
		fmt.Fprintf(w, "\nShoal / CoreDNS: QPS %.2f× (per round %.2f–%.2f×; target ≥ 1.5×), p99 %.2f× (target ≤ 1), RSS %.2f×\n",
			a.qps().Median/b.qps().Median, r.Min, r.Max, a.p99().Median/b.p99().Median, float64(a.rss)/float64(b.rss))
	}
}

// describe is the answer a query kind must get.
func describe(qs *querySet, kind string) string {
	for _, e := range qs.expect {
		if e.kind == kind {
			if e.answers == 1 {
				return dns.RcodeToString[e.rcode] + ", 1 answer"
			}
			return fmt.Sprintf("%s, %d answers", dns.RcodeToString[e.rcode], e.answers)
		}
	}
	return "(none in the mix)"
}

// spreadOf formats a spread as "median (min–max)".
func spreadOf(s benchenv.Spread, f func(float64) string) string {
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}

func seconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}
