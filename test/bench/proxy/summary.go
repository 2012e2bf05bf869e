package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// summary is one row of the table: a proxy's rounds in one scenario.
type summary struct {
	scenario, proxy string
	load            load
	rounds          int
	rps, p50, p99   benchenv.Spread // req/s; latencies in nanoseconds
	cpu             benchenv.Spread // µs of the proxy's CPU per request
	upCPU           benchenv.Spread // shoal up's CPU, in % of one CPU over the run
	counts          []int64         // requests each backend answered, all rounds
	errors          string          // every round's errors, "" if none
}

// summarize takes the median and range of each figure over the rounds.
func summarize(scenario, proxy string, ms []measurement) summary {
	s := summary{scenario: scenario, proxy: proxy, rounds: len(ms)}
	var rps, p50, p99, cpu, up []float64
	var errs []string
	for i, m := range ms {
		s.load = m.load
		rps = append(rps, m.rps)
		p50 = append(p50, float64(m.p50))
		p99 = append(p99, float64(m.p99))
		cpu = append(cpu, m.cpuPerRequest())
		up = append(up, 100*m.upCPU.Seconds()/m.load.duration.Seconds())
		if s.counts == nil {
			s.counts = make([]int64, len(m.counts))
		}
		for j, n := range m.counts {
			s.counts[j] += n
		}
		if m.errors != "" {
			errs = append(errs, fmt.Sprintf("round %d: %s", i+1, m.errors))
		}
	}
	s.rps, s.p50, s.p99, s.cpu = benchenv.SpreadOf(rps), benchenv.SpreadOf(p50), benchenv.SpreadOf(p99), benchenv.SpreadOf(cpu)
	s.upCPU = benchenv.SpreadOf(up)
	s.errors = strings.Join(errs, "; ")
	return s
}

func (s summary) share(i int) float64 {
	return measurement{counts: s.counts}.share(i)
}

func (s summary) sharesString() string {
	return measurement{counts: s.counts}.sharesString()
}

// durations formats a spread of nanoseconds as "median (min–max)".
func durations(sp benchenv.Spread) string {
	d := func(v float64) time.Duration { return round(time.Duration(v)) }
	return fmt.Sprintf("%v (%v–%v)", d(sp.Median), d(sp.Min), d(sp.Max))
}

// numbers formats a spread as "median (min–max)" with the given precision.
func numbers(sp benchenv.Spread, prec int) string {
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, sp.Median, prec, sp.Min, prec, sp.Max)
}
