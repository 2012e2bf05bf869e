package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// report prints the tables: per server the throughput, the CPU per query,
// the latencies at the fixed load and the memory, then the answer checks,
// then Shoal's ratios to CoreDNS.
func report(w io.Writer, o options, pin cpus, qs *querySet, servers []*server) {
	fmt.Fprintf(w, "\nDNS: %d services × %d endpoints (every 10th headless), query mix 40%% A / 20%% SRV / 20%% PTR / 20%% NXDOMAIN, no cache.\n", o.services, o.endpoints)
	loads := make([]string, len(o.fixedQPS))
	for i, q := range o.fixedQPS {
		loads[i] = fmt.Sprint(q)
	}
	fmt.Fprintf(w, "%d interleaved rounds per server, median (min–max): full speed with dnsperf -q %d for %v each; fixed loads (CPU per answered query; latency with dnsperf -v at the first) of %s q/s for both, %v each; %d CPUs",
		o.rounds, o.outstanding, o.duration, strings.Join(loads, " and "), o.duration, runtime.NumCPU())
	if pin.server != "" {
		fmt.Fprintf(w, " (servers on CPU %s, dnsperf on CPU %s)", pin.server, pin.client)
	}
	fmt.Fprintf(w, "; 1-minute load average %s at the start, %s at the end (other work on the machine lowers QPS; CPU per query moves much less)", o.load0, o.load1)
	fmt.Fprint(w, "\n\n| server | QPS | CPU µs/query at full speed |")
	for _, q := range o.fixedQPS {
		fmt.Fprintf(w, " CPU µs/query at %d q/s |", q)
	}
	fmt.Fprintf(w, " p50 at %s q/s | p99 | lost | RSS | peak RSS | Go heap (live) | wrong answers |\n|---|---:|---:|%s---:|---:|---:|---:|---:|---:|---:|\n",
		loads[0], strings.Repeat("---:|", len(loads)))
	for _, s := range servers {
		lost, sent := s.lost()
		fmt.Fprintf(w, "| %s | %s | %s |", s.name, spreadOf(s.qps(), func(v float64) string { return fmt.Sprintf("%.0f", v) }), spreadOf(s.cpu(), micros))
		for i := range o.fixedQPS {
			fmt.Fprintf(w, " %s |", spreadOf(s.fixedCPU(i), micros))
		}
		fmt.Fprintf(w, " %s | %s | %d of %d | %s | %s | %s | %d |\n",
			spreadOf(s.p50(), seconds), spreadOf(s.p99(), seconds),
			lost, sent, mib(s.rss), mib(s.peak), mib(s.heap), s.wrongAnswers())
	}
	if o.rounds > 0 {
		// A fixed load compares like work only where both carried it.
		fmt.Fprint(w, "\n| answered q/s at the fixed loads |")
		for _, q := range o.fixedQPS {
			fmt.Fprintf(w, " offered %d |", q)
		}
		fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(o.fixedQPS)))
		for _, s := range servers {
			fmt.Fprintf(w, "| %s |", s.name)
			for i, q := range o.fixedQPS {
				n := 0
				for _, r := range s.at(i) {
					if carried(r, q) {
						n++
					}
				}
				fmt.Fprintf(w, " %s, carried in %d of %d rounds |", spreadOf(s.fixedQPS(i), func(v float64) string { return fmt.Sprintf("%.0f", v) }), n, len(s.at(i)))
			}
			fmt.Fprintln(w)
		}
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
	fmt.Fprint(w, "| under load: every answer's rcode (fixed-load rounds) | per query |")
	for _, s := range servers {
		answered, bad := 0, 0
		for _, r := range slices.Concat(s.fixed...) {
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
		for _, r := range slices.Concat(s.fixed...) {
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
		fmt.Fprintf(w, "\nShoal / CoreDNS: RSS %.2f× (target ≤ 1), Go heap %.2f×", float64(a.rss)/float64(b.rss), float64(a.heap)/float64(b.heap))
		if o.rounds > 0 {
			// Per round, the two servers ran back to back.
			cpu := pairs(a.results, b.results, func(x, y result) float64 { return y.cpuPerQuery() / x.cpuPerQuery() })
			fmt.Fprintf(w, "; CoreDNS's CPU per query / Shoal's (target ≥ 1.5×): at full speed %.2f× (per round %.2f–%.2f×)",
				b.cpu().Median/a.cpu().Median, cpu.Min, cpu.Max)
			for i, q := range o.fixedQPS {
				// Only the rounds in which both carried the load compare
				// like with like.
				var x, y []result
				for r := range min(len(a.at(i)), len(b.at(i))) {
					if carried(a.at(i)[r], q) && carried(b.at(i)[r], q) {
						x, y = append(x, a.at(i)[r]), append(y, b.at(i)[r])
					}
				}
				if len(x) == 0 {
					fmt.Fprintf(w, ", at %d q/s no round in which both carried it", q)
					continue
				}
				cpu := pairs(x, y, func(x, y result) float64 { return y.cpuPerQuery() / x.cpuPerQuery() })
				med := benchenv.SpreadOf(collect(y, result.cpuPerQuery)).Median / benchenv.SpreadOf(collect(x, result.cpuPerQuery)).Median
				fmt.Fprintf(w, ", at %d q/s %.2f× (per round %.2f–%.2f×; the %d of %d rounds both carried)", q, med, cpu.Min, cpu.Max, len(x), len(a.at(i)))
			}
			qps := pairs(a.results, b.results, func(x, y result) float64 { return x.qps / y.qps })
			fmt.Fprintf(w, "; QPS %.2f× (per round %.2f–%.2f×); p99 %.2f× (target ≤ 1)",
				a.qps().Median/b.qps().Median, qps.Min, qps.Max, a.p99().Median/b.p99().Median)
		}
		fmt.Fprintln(w)
	}
}

// pairs is the spread of f over the rounds' results of two servers, round
// by round.
func pairs(a, b []result, f func(x, y result) float64) benchenv.Spread {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		out[i] = f(a[i], b[i])
	}
	return benchenv.SpreadOf(out)
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

// spreadOf formats a spread as "median (min–max)", "–" without rounds.
func spreadOf(s benchenv.Spread, f func(float64) string) string {
	if s == (benchenv.Spread{}) {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), f(s.Min), f(s.Max))
}

func micros(v float64) string { return fmt.Sprintf("%.1f", v) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func seconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}
