package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// result is one dnsperf run.
type result struct {
	qps        float64
	sent, lost int
	rcodes     map[string]int // from dnsperf's statistics
	// With -v (the fixed-load runs): every answer's latency, and how many
	// answers had an rcode other than their query's expected one.
	p50, p99    time.Duration
	answered    int
	wrongRcodes int
	example     string // the first wrong rcode
	// cpu is the server's CPU time (user + system) over the run.
	cpu time.Duration
}

// cpuPerQuery is the server's CPU time per answered query, in µs.
func (r result) cpuPerQuery() float64 {
	if n := r.sent - r.lost; n > 0 {
		return float64(r.cpu.Microseconds()) / float64(n)
	}
	return 0
}

// dnsperf runs dnsperf on qs against addr for d, at most maxQPS if that is
// not 0, and summarizes it; verbose (-v) reports every answer's rcode and
// latency, and each rcode is checked against what its query expects.
func dnsperf(cpu, addr string, qs *querySet, d time.Duration, outstanding, maxQPS int, verbose bool) (result, error) {
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"dnsperf", "-s", host, "-p", port, "-d", qs.path, "-l", strconv.Itoa(int(d.Seconds())),
		"-q", strconv.Itoa(outstanding), "-t", "2"}
	if maxQPS > 0 {
		args = append(args, "-Q", strconv.Itoa(maxQPS))
	}
	if verbose {
		args = append(args, "-v")
	}
	if cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	out, err := os.CreateTemp("", "dnsperf-*.out")
	if err != nil {
		return result{}, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("dnsperf: %v: %s", err, stderr.String())
	}
	if _, err := out.Seek(0, 0); err != nil {
		return result{}, err
	}
	r := result{rcodes: map[string]int{}}
	var latencies []time.Duration
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "> "); ok {
			// > RCODE name TYPE seconds
			f := strings.Fields(rest)
			if len(f) != 4 {
				continue
			}
			if sec, err := strconv.ParseFloat(f[3], 64); err == nil {
				latencies = append(latencies, time.Duration(sec*float64(time.Second)))
			}
			r.answered++
			if want := dns.RcodeToString[qs.expect[f[1]+" "+f[2]].rcode]; f[0] != want {
				r.wrongRcodes++
				if r.example == "" {
					r.example = fmt.Sprintf("%s %s: %s, want %s", f[1], f[2], f[0], want)
				}
			}
			continue
		}
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "Queries per second:"); ok {
			r.qps, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		} else if v, ok := strings.CutPrefix(line, "Queries sent:"); ok {
			r.sent, _ = strconv.Atoi(strings.TrimSpace(v))
		} else if v, ok := strings.CutPrefix(line, "Queries lost:"); ok {
			r.lost, _ = strconv.Atoi(strings.Fields(v)[0])
		} else if v, ok := strings.CutPrefix(line, "Response codes:"); ok {
			r.rcodes = parseRcodes(v)
		}
	}
	if err := sc.Err(); err != nil {
		return r, err
	}
	if r.qps == 0 || verbose && len(latencies) == 0 {
		return r, fmt.Errorf("dnsperf printed no result: %s", stderr.String())
	}
	if verbose {
		slices.Sort(latencies)
		r.p50 = latencies[len(latencies)/2]
		r.p99 = latencies[len(latencies)*99/100]
	}
	return r, nil
}

// parseRcodes reads dnsperf's "NOERROR 1234 (80.00%), NXDOMAIN 300 (20.00%)".
func parseRcodes(s string) map[string]int {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) >= 2 {
			n, _ := strconv.Atoi(f[1])
			out[f[0]] += n
		}
	}
	return out
}
