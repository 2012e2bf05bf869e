package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// facts describe the machine and the tools, for the table's header.
type facts struct {
	cpu, kernel, haproxy, wrk string
	load0, load1              string
	took                      time.Duration
}

func machineFacts() facts {
	f := facts{load0: benchenv.LoadAverage(), cpu: "?", kernel: "?"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				f.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		f.kernel = strings.TrimSpace(string(b))
	}
	f.haproxy = firstLine("haproxy", "-v")
	f.wrk = firstLine("wrk", "-v")
	return f
}

// firstLine is the first line a command prints (wrk -v exits non-zero).
func firstLine(args ...string) string {
	out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "?"
	}
	return line
}

// report prints the header, the table and the comparisons with targets.
func report(w io.Writer, o options, f facts, rows []summary) {
	fmt.Fprintf(w, "\nNode proxy vs HAProxy, HTTP/1.1 keep-alive on loopback, 3 backends (one child process) at %s.\n", strings.Join(backendAddrs(), ", "))
	fmt.Fprintf(w, "Machine: %d CPUs (%s), kernel %s, %s; load %s → %s. Nothing pinned: wrk, the proxy and the backends share the CPUs.\n",
		runtime.NumCPU(), f.cpu, f.kernel, runtime.Version(), f.load0, f.load1)
	fmt.Fprintf(w, "Tools: %s; %s. HAProxy: mode http, balance leastconn, http-reuse always, nbthread %d, no logging.\n", f.haproxy, f.wrk, o.haproxyThreads)
	fmt.Fprintf(w, "Each run: wrk --latency -t%d, %v warm-up then %v measured; %d interleaved rounds (the order reversed every other round), "+
		"each figure the median over the rounds and (in brackets) the lowest and the highest. CPU = the proxy process's utime+stime over "+
		"the measured run / requests completed. Shares: every round's requests, as the backends counted them. Errors: non-2xx answers "+
		"and socket errors wrk counted. shoal up: the control plane's CPU over the run, in %% of one CPU (the weights it computes from "+
		"Shoal's proxy's load reports and sends back over EDS; idle during HAProxy's runs).\n", o.threads, o.warmup, o.duration, o.rounds)
	fmt.Fprint(w, "\n| scenario | proxy | wrk -c | req/s | p50 | p99 | proxy CPU µs/req | shoal up CPU | share per backend | errors |\n")
	fmt.Fprint(w, "|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		shares := r.sharesString()
		if strings.HasPrefix(r.scenario, "B") {
			shares += fmt.Sprintf(" (%s)", delaysString(o.slowDelays))
		}
		errs := r.errors
		if errs == "" {
			errs = "none"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %.1f%% | %s | %s |\n", r.scenario, r.proxy, r.load.conns, numbers(r.rps, 0),
			round(time.Duration(r.p50.Median)), durations(r.p99), numbers(r.cpu, 1), r.upCPU.Median, shares, errs)
	}
	find := func(scenario, proxy string) *summary {
		for i := range rows {
			if strings.HasPrefix(rows[i].scenario, scenario) && rows[i].proxy == proxy {
				return &rows[i]
			}
		}
		return nil
	}
	fmt.Fprintln(w)
	if s, h := find("A", shoalLeastName), find("A", haproxyName); s != nil && h != nil && h.rps.Median > 0 && h.cpu.Median > 0 && h.p99.Median > 0 {
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "missed"
		}
		fmt.Fprintf(w, "A: Shoal / HAProxy req/s %.2f× (target ≥ 1: %s), CPU per request %.2f× (target ≤ 1: %s), p99 %.2f× (target ≤ 1: %s).\n",
			s.rps.Median/h.rps.Median, verdict(s.rps.Median >= h.rps.Median),
			s.cpu.Median/h.cpu.Median, verdict(s.cpu.Median <= h.cpu.Median),
			s.p99.Median/h.p99.Median, verdict(s.p99.Median <= h.p99.Median))
	}
	if s, r, h := find("B", shoalLeastName), find("B", shoalRRName), find("B", haproxyName); s != nil && h != nil && r != nil {
		slow := slowest(o.slowDelays)
		verdict := "met"
		if s.p99.Median >= h.p99.Median {
			verdict = "not met"
		}
		fmt.Fprintf(w, "B: p99 Shoal least-loaded %v vs HAProxy leastconn %v (target: lower; %s), Shoal round robin %v; the slow backend's share: %.1f%% / %.1f%% / %.1f%%.\n",
			round(time.Duration(s.p99.Median)), round(time.Duration(h.p99.Median)), verdict, round(time.Duration(r.p99.Median)),
			100*s.share(slow), 100*h.share(slow), 100*r.share(slow))
	}
	fmt.Fprintf(w, "The whole bench took %v.\n", f.took.Round(time.Second))
}

func slowest(ds []time.Duration) int {
	j := 0
	for i, d := range ds {
		if d > ds[j] {
			j = i
		}
	}
	return j
}

func delaysString(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return "delays " + strings.Join(s, " / ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < 100*time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
