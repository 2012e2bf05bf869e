// Command dns compares Shoal's resolver with CoreDNS's kubernetes plugin on
// the same objects in the same run (`make bench-dns`).
//
// It starts Shoal in-process (embedded etcd, API server), creates the
// services (selector-less, each with a hand-written EndpointSlice; every
// tenth headless), then runs each server as its own child process
// (test/bench/dns/server): Shoal's cluster plugin reading etcd, and CoreDNS's
// kubernetes plugin reading Shoal's API server through a kubeconfig. Both
// have the same Corefile otherwise (errors, no cache).
//
// First every distinct query of the mix (A, SRV, PTR, NXDOMAIN) is asked of
// each server once and its rcode and answer count checked. Then dnsperf
// sends the mix to each for a fixed time, in interleaved rounds (the order
// alternating), as fast as each answers; then in as many rounds at each of
// the offered loads given (-qps, the same for both; by default half what
// the slower server reached at full speed in this run, so a load both
// carry, and 10,000 q/s), reporting every answer's rcode (checked)
// and latency. Around every run the server's CPU time (utime + stime from
// /proc) is read: CPU per answered query is the measure that neither
// dnsperf nor the kernel's loopback caps. At full speed it is the work a
// busy server does per query; at a fixed load below what the servers carry
// it also holds what each packet's wake-up costs (the scheduler, the
// kernel), which both servers pay alike and which weighs less as the load
// grows. With taskset the servers run on CPU 0 and dnsperf (and this
// program) on CPU 1. It prints
// the median and the range over the rounds of QPS, CPU per query, p50 and
// p99, the queries lost, the servers' resident memory and Go heap, the
// answer checks and the ratios, as Markdown tables, and exits non-zero if
// any answer was wrong. With -rounds 0 it only loads, checks and measures
// memory (for large sizes).
//
//	go run ./test/bench/dns -services 1000 -endpoints 10 -duration 10s -rounds 5
//	go run ./test/bench/dns -services 10000 -rounds 0
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

type options struct {
	services, endpoints int
	duration, warmup    time.Duration
	outstanding         int
	rounds              int
	fixedQPS            []int
	profiles            string
	hold                bool
	load0, load1        string // 1-minute load average at the start and the end
}

func main() {
	var o options
	flag.IntVar(&o.services, "services", 1000, "services to create")
	flag.IntVar(&o.endpoints, "endpoints", 10, "endpoints per service")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "dnsperf run time per server and round")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured dnsperf run before each throughput run")
	flag.IntVar(&o.outstanding, "outstanding", 100, "dnsperf -q: queries in flight")
	flag.IntVar(&o.rounds, "rounds", 5, "measured runs per server, interleaved, for throughput and again at each fixed load")
	flag.StringVar(&o.profiles, "cpuprofile", "", "directory to write each server's CPU profile (<mode>.prof) to")
	qps := flag.String("qps", "auto,10000", "offered loads of the fixed-load rounds, comma-separated, each one both servers carry (CPU per query; latency at the first); auto is half the slower server's lowest full-speed QPS of this run")
	flag.BoolVar(&o.hold, "hold", false, "after the runs, print the servers' addresses and keep them up until interrupted (to profile by hand)")
	flag.Parse()
	for _, f := range strings.Split(*qps, ",") {
		f = strings.TrimSpace(f)
		if f == "auto" {
			o.fixedQPS = append(o.fixedQPS, autoQPS)
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			log.Fatalf("-qps %q: want positive numbers of queries per second or auto, comma-separated", *qps)
		}
		o.fixedQPS = append(o.fixedQPS, n)
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return fmt.Errorf("dnsperf is not installed (apt-get install -y dnsperf): %w", err)
	}
	pin := pinning()
	o.load0 = benchenv.LoadAverage()
	if pin.client != "" {
		// This process (Shoal's API server and etcd, idle while measuring)
		// shares dnsperf's CPU, not the servers'.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", pin.client, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return fmt.Errorf("taskset: %v: %s", err, out)
		}
	}
	dir, err := os.MkdirTemp("", "shoal-bench-dns-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, err := cluster.Up(ctx, cluster.Config{
		DataDir: filepath.Join(dir, "shoal"), APIAddr: freeAddr(),
		EtcdClientAddr: freeAddr(), EtcdPeerAddr: freeAddr(), DNSAddr: freeAddr(),
	})
	if err != nil {
		return fmt.Errorf("shoal up: %w", err)
	}
	defer func() { cancel(); in.Wait() }()

	start := time.Now()
	objs, err := createObjects(ctx, in.Kubeconfig, o.services, o.endpoints)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "created %d services with %d endpoints each in %v\n", o.services, o.endpoints, time.Since(start).Round(time.Millisecond))
	qs, err := writeQueries(filepath.Join(dir, "queries.txt"), objs)
	if err != nil {
		return err
	}

	bin := filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", bin, "./test/bench/dns/server")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build the server: %w", err)
	}

	servers := []*server{
		{name: "Shoal (cluster)", mode: "shoal", plugin: fmt.Sprintf("cluster cluster.local in-addr.arpa {\n        endpoint %s\n        tls %s %s %s\n        pods insecure\n        ttl 5\n    }",
			in.Endpoints[0], in.EtcdFiles.ClientCert, in.EtcdFiles.ClientKey, in.EtcdFiles.CA)},
		{name: "CoreDNS (kubernetes)", mode: "coredns", plugin: fmt.Sprintf("kubernetes cluster.local in-addr.arpa {\n        kubeconfig %s shoal\n        pods insecure\n        ttl 5\n    }", in.Kubeconfig)},
	}
	for _, s := range servers {
		s.addr, s.debug = freeAddr(), freeAddr()
		if err := s.start(ctx, bin, dir, pin.server, o.profiles); err != nil {
			return err
		}
		defer s.stop()
	}
	for _, s := range servers {
		start := time.Now()
		if err := s.waitSynced(objs, 2*time.Minute); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(os.Stderr, "%s answers for every service after %v\n", s.name, time.Since(start).Round(time.Millisecond))
	}

	// Correctness: every distinct query once, rcode and answer count.
	for _, s := range servers {
		s.check = checkAnswers(s.addr, qs)
		fmt.Fprintf(os.Stderr, "%s: %d of %d distinct queries answered wrongly or not at all\n", s.name, wrong(s.check), len(qs.expect))
	}

	// Throughput: as fast as each server answers, rounds interleaved.
	for round := range o.rounds {
		for _, s := range inTurn(servers, round) {
			if o.warmup > 0 {
				if _, err := dnsperf(pin.client, s.addr, qs, o.warmup, o.outstanding, 0, false); err != nil {
					return err
				}
			}
			r, err := s.measure(pin.client, qs, o.duration, o.outstanding, 0, false)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if err := checkRcodes(r, qs); err != nil {
				s.rcodeErrs = append(s.rcodeErrs, fmt.Sprintf("round %d: %v", round+1, err))
			}
			fmt.Fprintf(os.Stderr, "round %d %s: %.0f q/s, %.1f µs CPU/query, lost %d of %d, %v\n", round+1, s.name, r.qps, r.cpuPerQuery(), r.lost, r.sent, r.rcodes)
			s.results = append(s.results, r)
		}
	}
	resolveAuto(o.fixedQPS, servers)
	// Fixed loads: the same offered load for both, with dnsperf reporting
	// every answer (which would make dnsperf the bottleneck at full speed);
	// CPU per answered query and latency.
	for _, s := range servers {
		s.fixed = make([][]result, len(o.fixedQPS))
	}
	for round := range o.rounds {
		for i, qps := range o.fixedQPS {
			for _, s := range inTurn(servers, round) {
				r, err := s.measure(pin.client, qs, o.duration, o.outstanding, qps, true)
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				fmt.Fprintf(os.Stderr, "round %d %s at %d q/s: %.1f µs CPU/query, p50 %v, p99 %v, lost %d, %d wrong rcodes\n", round+1, s.name, qps, r.cpuPerQuery(), r.p50, r.p99, r.lost, r.wrongRcodes)
				s.fixed[i] = append(s.fixed[i], r)
			}
		}
	}
	for _, s := range servers {
		s.rss, s.peak = benchenv.Memory(s.cmd.Process.Pid)
		if s.heap, err = s.liveHeap(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	o.load1 = benchenv.LoadAverage()
	if o.hold {
		hold(servers, qs)
	}
	report(os.Stdout, o, pin, qs, servers)
	for _, s := range servers {
		if n := s.wrongAnswers(); n > 0 {
			return fmt.Errorf("%s answered %d queries wrongly (see the table): the figures compare unlike work", s.name, n)
		}
	}
	return nil
}

// autoQPS stands for -qps auto until the throughput rounds have run.
const autoQPS = -1

// resolveAuto replaces autoQPS in loads by half the lowest QPS any server
// reached at full speed in this run (in steps of 500, at least 500): a
// load both carry even when other work on the machine slows them.
func resolveAuto(loads []int, servers []*server) {
	lowest := 0.0
	for _, s := range servers {
		if q := s.qps(); lowest == 0 || q.Min < lowest {
			lowest = q.Min
		}
	}
	auto := max(500, int(lowest/2)/500*500)
	for i, q := range loads {
		if q == autoQPS {
			loads[i] = auto
		}
	}
}

// hold prints where the servers are and waits for SIGINT or SIGTERM.
func hold(servers []*server, qs *querySet) {
	fmt.Fprintf(os.Stderr, "holding; queries in %s; interrupt to finish\n", qs.path)
	for _, s := range servers {
		fmt.Fprintf(os.Stderr, "  %s: pid %d, dns %s, pprof http://%s/debug/pprof/\n", s.name, s.cmd.Process.Pid, s.addr, s.debug)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

// inTurn is the servers in the order of a round: as given in even rounds,
// reversed in odd ones, so neither always runs first.
func inTurn(servers []*server, round int) []*server {
	s := slices.Clone(servers)
	if round%2 == 1 {
		slices.Reverse(s)
	}
	return s
}

// cpus says where the servers and the client run; empty without taskset or
// with one CPU.
type cpus struct{ server, client string }

func pinning() cpus {
	if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
		return cpus{}
	}
	return cpus{server: "0", client: "1"}
}

// freeAddr is a 127.0.0.1 port free for both UDP and TCP.
func freeAddr() string {
	a, err := benchenv.FreeAddr()
	if err != nil {
		log.Fatal(err)
	}
	return a
}
