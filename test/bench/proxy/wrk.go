package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// load is wrk's settings for one run.
type load struct {
	threads, conns int
	duration       time.Duration
}

// wrkResult is what the table takes from one wrk run.
type wrkResult struct {
	requests int64
	rps      float64
	p50, p99 time.Duration
	errors   string // non-2xx answers and socket errors, "" if none
}

var (
	reRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	reRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	reLatency  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$`)
	reNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	reSocket   = regexp.MustCompile(`(?m)^\s*Socket errors:\s+(.*)$`)
)

// runWrk runs wrk --latency against url and parses its summary.
func runWrk(ctx context.Context, url string, l load) (wrkResult, string, error) {
	cmd := exec.CommandContext(ctx, "wrk", "--latency", "-t", strconv.Itoa(l.threads), "-c", strconv.Itoa(l.conns),
		"-d", fmt.Sprintf("%ds", max(1, int(l.duration.Round(time.Second).Seconds()))), "--timeout", "5s", url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, stdout.String(), fmt.Errorf("wrk %s: %w", url, ctx.Err())
		}
		return wrkResult{}, stdout.String(), fmt.Errorf("wrk %s: %w: %s", url, err, stderr.String())
	}
	r, err := parseWrk(stdout.String())
	return r, stdout.String(), err
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := reRequests.FindStringSubmatch(out)
	n := reRPS.FindStringSubmatch(out)
	if m == nil || n == nil {
		return r, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.rps, _ = strconv.ParseFloat(n[1], 64)
	for _, l := range reLatency.FindAllStringSubmatch(out, -1) {
		d, err := time.ParseDuration(l[2] + l[3])
		if err != nil {
			return r, fmt.Errorf("wrk latency %q: %w", l[0], err)
		}
		if l[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if r.p50 == 0 || r.p99 == 0 {
		return r, fmt.Errorf("no 50%%/99%% latency in wrk's output (--latency):\n%s", out)
	}
	var errs []string
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		errs = append(errs, m[1]+" non-2xx")
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		errs = append(errs, "socket "+strings.TrimSpace(m[1]))
	}
	r.errors = strings.Join(errs, "; ")
	return r, nil
}
