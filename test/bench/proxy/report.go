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
func report(w io.Writer, o options, f facts, ms []measurement) {
	fmt.Fprintf(w, "\nNode proxy vs HAProxy, HTTP/1.1 keep-alive on loopback, 3 backends (one child process) at %s.\n", strings.Join(backendAddrs(), ", "))
	fmt.Fprintf(w, "Machine: %d CPUs (%s), kernel %s, %s; load %s → %s. Nothing pinned: wrk, the proxy and the backends share the CPUs.\n",
		runtime.NumCPU(), f.cpu, f.kernel, runtime.Version(), f.load0, f.load1)
	fmt.Fprintf(w, "Tools: %s; %s. HAProxy: mode http, balance leastconn, http-reuse always, nbthread %d, no logging.\n", f.haproxy, f.wrk, o.haproxyThreads)
	fmt.Fprintf(w, "Each row: wrk --latency -t%d, %v warm-up then %v measured", o.threads, o.warmup, o.duration)
	if o.rounds > 1 {
		fmt.Fprintf(w, ", the median by req/s of %d interleaved rounds", o.rounds)
	}
	fmt.Fprint(w, "; CPU = the proxy process's utime+stime over the measured run / requests completed.\n")
	fmt.Fprint(w, "\n| scenario | proxy | wrk -c | req/s | p50 | p99 | proxy CPU µs/req | share per backend | errors |\n")
	fmt.Fprint(w, "|---|---|---:|---:|---:|---:|---:|---|---|\n")
	for _, m := range ms {
		shares := m.sharesString()
		if m.scenario != "" && strings.HasPrefix(m.scenario, "B") {
			shares += fmt.Sprintf(" (%s)", delaysString(o.slowDelays))
		}
		errs := m.errors
		if errs == "" {
			errs = "none"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.0f | %v | %v | %.1f | %s | %s |\n", m.scenario, m.proxy, m.load.conns, m.rps,
			round(m.p50), round(m.p99), m.cpuPerRequest(), shares, errs)
	}
	find := func(scenario, proxy string) *measurement {
		for i := range ms {
			if strings.HasPrefix(ms[i].scenario, scenario) && ms[i].proxy == proxy {
				return &ms[i]
			}
		}
		return nil
	}
	fmt.Fprintln(w)
	if s, h := find("A", shoalLeastName), find("A", haproxyName); s != nil && h != nil && h.rps > 0 {
		fmt.Fprintf(w, "A: Shoal / HAProxy req/s %.2f× (target ≥ 0.8), CPU per request %.2f×, p99 %.2f×.\n",
			s.rps/h.rps, s.cpuPerRequest()/h.cpuPerRequest(), float64(s.p99)/float64(h.p99))
	}
	if s, r, h := find("B", shoalLeastName), find("B", shoalRRName), find("B", haproxyName); s != nil && h != nil && r != nil {
		slow := slowest(o.slowDelays)
		verdict := "met"
		if s.p99 >= h.p99 {
			verdict = "not met"
		}
		fmt.Fprintf(w, "B: p99 Shoal least-loaded %v vs HAProxy leastconn %v (target: lower; %s), Shoal round robin %v; the slow backend's share: %.1f%% / %.1f%% / %.1f%%.\n",
			round(s.p99), round(h.p99), verdict, round(r.p99), 100*s.share(slow), 100*h.share(slow), 100*r.share(slow))
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
