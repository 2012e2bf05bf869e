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
)

// result is one dnsperf run.
type result struct {
	qps      float64
	p50, p99 time.Duration
	lost     int
	rcodes   string
}

// dnsperf runs dnsperf against addr for d, at most maxQPS if that is not 0,
// and summarizes it; verbose (-v) reports every answer's latency.
func dnsperf(cpu, addr, queries string, d time.Duration, outstanding, maxQPS int, verbose bool) (result, error) {
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"dnsperf", "-s", host, "-p", port, "-d", queries, "-l", strconv.Itoa(int(d.Seconds())),
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
	var (
		r         result
		latencies []time.Duration
	)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "> "); ok {
			f := strings.Fields(rest)
			if sec, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				latencies = append(latencies, time.Duration(sec*float64(time.Second)))
			}
			continue
		}
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "Queries per second:"); ok {
			r.qps, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		} else if v, ok := strings.CutPrefix(line, "Queries lost:"); ok {
			r.lost, _ = strconv.Atoi(strings.Fields(v)[0])
		} else if v, ok := strings.CutPrefix(line, "Response codes:"); ok {
			r.rcodes = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return r, err
	}
	if r.qps == 0 || verbose && len(latencies) == 0 {
		return r, fmt.Errorf("dnsperf printed no result: %s", stderr.String())
	}
	if !verbose {
		return r, nil
	}
	slices.Sort(latencies)
	r.p50 = latencies[len(latencies)/2]
	r.p99 = latencies[len(latencies)*99/100]
	return r, nil
}
