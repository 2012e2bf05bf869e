package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// server is one of the compared DNS servers, run as a child process.
type server struct {
	name, mode, plugin string
	addr               string
	debug              string // its -debug listener (pprof, /heap)
	cmd                *exec.Cmd
	results            []result          // throughput rounds
	fixed              [][]result        // rounds at each fixed load
	check              map[string]*tally // every distinct query asked once, by kind
	rcodeErrs          []string          // throughput rounds whose rcodes were off
	rss, peak          int64             // bytes, after the runs
	heap               int64             // Go heap live after the last GC, bytes
}

// corefile is the same for both servers but for the plugin: errors, no
// cache.
func (s *server) corefile() string {
	host, port, _ := net.SplitHostPort(s.addr)
	return fmt.Sprintf("cluster.local:%[1]s in-addr.arpa:%[1]s {\n    bind %[2]s\n    errors\n    %[3]s\n}\n", port, host, s.plugin)
}

func (s *server) start(ctx context.Context, bin, dir, cpu, profiles string) error {
	path := filepath.Join(dir, "Corefile."+s.mode)
	if err := os.WriteFile(path, []byte(s.corefile()), 0o600); err != nil {
		return err
	}
	args := []string{bin, "-mode", s.mode, "-corefile", path, "-debug", s.debug}
	if profiles != "" {
		args = append(args, "-cpuprofile", filepath.Join(profiles, s.mode+".prof"))
	}
	if cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	s.cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	return nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// waitSynced polls until the server answers for the last service created
// and for every service's A or SRV.
func (s *server) waitSynced(objs []object, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &dns.Client{Timeout: time.Second}
	for _, o := range objs {
		m := new(dns.Msg)
		m.SetQuestion("_http._tcp."+o.fqdn(), dns.TypeSRV)
		for {
			r, _, err := c.Exchange(m, s.addr)
			if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no answer for %s within %v: %v %v", m.Question[0].Name, timeout, r, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// measure runs dnsperf against s (see dnsperf) and reads s's CPU time
// around it.
func (s *server) measure(cpu string, qs *querySet, d time.Duration, outstanding, maxQPS int, verbose bool) (result, error) {
	pid := s.cmd.Process.Pid
	cpu0 := benchenv.CPUTime(pid)
	r, err := dnsperf(cpu, s.addr, qs, d, outstanding, maxQPS, verbose)
	r.cpu = benchenv.CPUTime(pid) - cpu0
	return r, err
}

// liveHeap asks the server's debug listener for its live Go heap.
func (s *server) liveHeap() (int64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + s.debug + "/heap")
	if err != nil {
		return 0, fmt.Errorf("read heap: %w", err)
	}
	defer resp.Body.Close()
	var heap int64
	if _, err := fmt.Fscan(resp.Body, &heap); err != nil {
		return 0, fmt.Errorf("read heap: %w", err)
	}
	return heap, nil
}

// qps is the spread of the throughput rounds.
func (s *server) qps() benchenv.Spread {
	return benchenv.SpreadOf(collect(s.results, func(r result) float64 { return r.qps }))
}

// cpu and fixedCPU are the spreads of CPU per answered query (µs) of the
// throughput rounds and of the rounds at the i-th fixed load.
func (s *server) cpu() benchenv.Spread {
	return benchenv.SpreadOf(collect(s.results, result.cpuPerQuery))
}

func (s *server) fixedCPU(i int) benchenv.Spread {
	return benchenv.SpreadOf(collect(s.at(i), result.cpuPerQuery))
}

// fixedQPS is the spread of the answered queries per second at the i-th
// fixed load.
func (s *server) fixedQPS(i int) benchenv.Spread {
	return benchenv.SpreadOf(collect(s.at(i), func(r result) float64 { return r.qps }))
}

// carried says whether a run answered the load offered, q/s: at least 95%
// of it. A run that did not carry its load ran at the server's own full
// speed instead.
func carried(r result, offered int) bool { return r.qps >= 0.95*float64(offered) }

// at is the rounds at the i-th fixed load.
func (s *server) at(i int) []result {
	if i >= len(s.fixed) {
		return nil
	}
	return s.fixed[i]
}

// p50 and p99 are the spreads of the latencies at the first fixed load, in
// seconds.
func (s *server) p50() benchenv.Spread {
	return benchenv.SpreadOf(collect(s.at(0), func(r result) float64 { return r.p50.Seconds() }))
}

func (s *server) p99() benchenv.Spread {
	return benchenv.SpreadOf(collect(s.at(0), func(r result) float64 { return r.p99.Seconds() }))
}

// lost sums the queries dnsperf sent and lost over every run.
func (s *server) lost() (lost, sent int) {
	for _, r := range slices.Concat(append([][]result{s.results}, s.fixed...)...) {
		lost += r.lost
		sent += r.sent
	}
	return lost, sent
}

// wrongAnswers counts the answers found wrong in the check, the fixed-load
// rounds' rcodes, and the throughput rounds whose rcode mix was off.
func (s *server) wrongAnswers() int {
	n := wrong(s.check) + len(s.rcodeErrs)
	for _, r := range slices.Concat(s.fixed...) {
		n += r.wrongRcodes
	}
	return n
}

func collect(rs []result, f func(result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}
