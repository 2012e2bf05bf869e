// Command xds measures Shoal's xDS control plane (`make bench-xds`): how
// fast an endpoint change reaches many ADS clients, what each change costs
// the server (CPU time, system calls, bytes written), what each client and
// each endpoint costs it in memory, and how many pushes a rollout makes —
// for state-of-the-world and delta (incremental) clients alike.
//
// It builds ./cmd/shoal and runs `shoal up` as a child process on free
// 127.0.0.1 ports with a temp data dir, so the server's memory and CPU can
// be read apart from the clients' (/proc/<pid>/status, stat and io, and
// the Go heap from the API server's /metrics). With two or more CPUs the
// child is pinned to CPU 0 and this process (the writer and every client)
// to CPU 1. With -baseline REV, a second `shoal up` built from that git
// revision is set up the same way beside it, and the timed rounds
// alternate between the two, so both are measured under the same load.
//
// Objects go through the API (client-go, HTTPS, the admin token):
// selector-less Services with one hand-written EndpointSlice each
// (managed-by a name that is not Shoal's controller). The clients are raw
// ADS streams (envoy's generated AggregatedDiscoveryServiceClient), each on
// its own gRPC connection with its own node id, user_agent_name
// alternating "envoy" (whose connection behaves like Envoy's, see dial)
// and "gRPC Go". Two fleets of N: state-of-the-world clients watch EDS for
// svc-0000, the rollout service and a few random others; delta clients
// watch svc-0001 and a few random others. Every client ACKs every response.
//
// Phases, per server: memory with nothing loaded; services × endpoints
// loaded (and seen complete by an xDS probe client); memory; the rollout
// service created; memory; each fleet connected, memory after each. Then
// rounds: in each, for each server (in alternating order) and each fleet,
// single-endpoint changes to that fleet's hot service, each timed until
// every client of the fleet has the new assignment (checked whole).
// Last, a 100-pod rollout per server. It prints Markdown tables.
//
//	go run ./test/bench/xds -baseline cdcda7f -rounds 5
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// verbose logs the memory readings' steps.
var verbose bool

type options struct {
	cpuProfile          string
	services, endpoints int
	clients             int
	random              int
	rounds, changes     int
	rollout             int
	gap                 time.Duration
	settle              time.Duration
	parallel            int
	pin                 bool
	baseline            string
	fanout              bool
	convRounds          int
	convSecs            int
	dataDir             string
	timeout             time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.services, "services", 1000, "services to create")
	flag.IntVar(&o.endpoints, "endpoints", 10, "endpoints per service")
	flag.IntVar(&o.clients, "clients", 1000, "ADS clients per fleet (N); there are two fleets, state of the world and delta")
	flag.IntVar(&o.random, "random", 3, "services each client watches besides its hot one (and the rollout one)")
	flag.IntVar(&o.rounds, "rounds", 5, "timed rounds (each: every server, every fleet)")
	flag.IntVar(&o.changes, "changes", 30, "single-endpoint changes timed per round, server and fleet")
	flag.IntVar(&o.rollout, "rollout", 100, "pods of the rolling update")
	flag.DurationVar(&o.gap, "gap", 100*time.Millisecond, "pause between timed changes, beyond the feed's coalescing window")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "idle time before each memory reading")
	flag.IntVar(&o.parallel, "parallel", 16, "concurrent writers while loading and connecting")
	flag.BoolVar(&o.pin, "pin", true, "pin the servers to CPU 0 and the clients to CPU 1 (needs taskset and 2 CPUs)")
	flag.BoolVar(&o.fanout, "fanout", true, "run the fan-out phase (changes to many clients, memory, rollout)")
	flag.IntVar(&o.convRounds, "converge-rounds", 5, "rounds of the least-loaded convergence phase (0 skips it)")
	flag.IntVar(&o.convSecs, "converge-secs", 20, "seconds each convergence run calls for")
	flag.StringVar(&o.baseline, "baseline", "", "also run `shoal up` built from this git revision and alternate the rounds between the two")
	flag.StringVar(&o.dataDir, "data-dir", "", "where to make the temp dirs (binaries, data, logs); default the system's temp dir")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	flag.BoolVar(&verbose, "v", false, "log every step of the memory readings")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a 5 s CPU profile of this tree's server, taken during its first state-of-the-world round, here")
	flag.Parse()
	if o.clients < 1 || o.services < 3 || o.endpoints < 1 || o.rollout < 1 || o.rollout > 250*250 || o.rounds < 1 || o.changes < 1 ||
		o.convRounds < 0 || o.convRounds > 60 || o.convSecs < convSteady+1 {
		log.Fatalf("need clients >= 1, services >= 3, endpoints >= 1, 1 <= rollout <= 62500, rounds >= 1, changes >= 1, 0 <= converge-rounds <= 60, converge-secs > %d", convSteady)
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// results is everything the tables show.
type results struct {
	o            options
	cpus         string
	load0, load1 string
	targets      []*target // this tree's, then the baseline's
}

func run(o options) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	r := &results{o: o, load0: benchenv.LoadAverage(), cpus: "not pinned"}

	serverCPU, clientCPU := "", ""
	if _, lerr := exec.LookPath("taskset"); o.pin && lerr == nil && runtime.NumCPU() >= 2 {
		serverCPU, clientCPU = "0", "1"
		r.cpus = "servers (`shoal up`) on CPU 0; writer and clients on CPU 1"
	}
	dir, err := os.MkdirTemp(o.dataDir, "shoal-bench-xds-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("building ./cmd/shoal")
	bins := []string{}
	bin, err := benchenv.BuildShoal(ctx, dir)
	if err != nil {
		return err
	}
	bins = append(bins, bin)
	r.targets = append(r.targets, &target{name: "this tree"})
	if o.baseline != "" {
		logf("building ./cmd/shoal at %s", o.baseline)
		bin, err := buildBaseline(ctx, dir, o.baseline)
		if err != nil {
			return err
		}
		bins = append(bins, bin)
		r.targets = append(r.targets, &target{name: "baseline " + o.baseline})
	}
	for _, t := range r.targets {
		defer t.stop()
	}
	if clientCPU != "" {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", clientCPU, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return fmt.Errorf("taskset: %v: %s", err, out)
		}
	}
	for i, t := range r.targets {
		if err := t.start(ctx, o, bins[i], serverCPU); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if o.fanout {
		if err := fanout(ctx, o, r); err != nil {
			return err
		}
	}
	if o.convRounds > 0 {
		if err := converge(ctx, o, r); err != nil {
			return err
		}
	}
	r.load1 = benchenv.LoadAverage()
	report(os.Stdout, r)
	return nil
}

// fanout loads each server and connects its fleets, times changes in
// rounds alternating between the servers, then rolls out.
func fanout(ctx context.Context, o options, r *results) error {
	for _, t := range r.targets {
		if err := t.load(ctx, o); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	// Timed rounds, alternating which server goes first.
	for k := range o.rounds {
		for j := range r.targets {
			t := r.targets[(j+k)%len(r.targets)]
			for p := range numProtocols {
				profiled := closedChan
				if k == 0 && t == r.targets[0] && p == sotw {
					profiled = profile(ctx, t.sh, o.cpuProfile)
				}
				logf("round %d: %s, %d changes to %d %s clients (load %s)", k+1, t.name, o.changes, o.clients, p, benchenv.LoadAverage())
				rd, err := t.timeChanges(ctx, p, o.changes, o.gap)
				<-profiled
				if err != nil {
					return err
				}
				t.rounds[p] = append(t.rounds[p], rd)
				if err := t.alive(); err != nil {
					return err
				}
			}
		}
	}
	for _, t := range r.targets {
		logf("%s: %d-pod rollout, %d clients", t.name, o.rollout, o.clients)
		ro, err := t.rollOut(ctx, 253)
		if err != nil {
			return err
		}
		t.rollouts = append(t.rollouts, ro)
		if err := t.alive(); err != nil {
			return err
		}
		t.closeFleets()
	}
	return nil
}

// converge runs the convergence phase: per round, least-loaded on every
// server (alternating which goes first), then least-request on this
// tree's for context.
func converge(ctx context.Context, o options, r *results) error {
	idx := 0
	for k := range o.convRounds {
		type job struct {
			t      *target
			policy string
		}
		var jobs []job
		for j := range r.targets {
			jobs = append(jobs, job{r.targets[(j+k)%len(r.targets)], "least-loaded"})
		}
		jobs = append(jobs, job{r.targets[0], "least-request"})
		for _, jb := range jobs {
			idx++
			logf("convergence round %d: %s, %s, %d callers for %d s (load %s)", k+1, jb.t.name, jb.policy, convCallers, o.convSecs, benchenv.LoadAverage())
			run, err := jb.t.converge(ctx, idx, jb.policy, o.convSecs)
			if err != nil {
				return fmt.Errorf("%s: %w", jb.t.name, err)
			}
			logf("  slow backend's share per second: %s", percents(run.share))
			jb.t.convRuns = append(jb.t.convRuns, run)
		}
	}
	return nil
}

// round is one run of timed single-endpoint changes to one fleet.
type round struct {
	load string // 1-minute load average when it began
	// fromWrite is from just before the Update call to the last client's
	// response; fromReturn from when the call returned; first to the
	// first client's; write is the Update call itself.
	fromWrite, fromReturn, first, write []time.Duration
	missed                              int   // changes not seen by every client within 10 s
	wrong                               int64 // responses whose assignment was not as written
	checked                             int64 // responses checked
	// What the server used over the round, pauses between changes
	// included: CPU time, and read and write system calls and bytes
	// written from /proc/<pid>/io.
	serverCPU time.Duration
	io        procIO
}

// timeChanges replaces one endpoint of fleet p's hot service n times, one
// change at a time, and times each until every client of the fleet has it.
func (t *target) timeChanges(ctx context.Context, p protocol, n int, gap time.Duration) (round, error) {
	f := t.fleets[p]
	clients := len(f.active())
	rd := round{load: benchenv.LoadAverage()}
	server0, io0 := benchenv.CPUTime(t.sh.Pid()), readProcIO(t.sh.Pid())
	for k := range n {
		t.gen++
		hot := t.hot[p]
		j := k % len(hot.Endpoints)
		newIP, oldIP := ip4(10, 250, int(t.gen)), hot.Endpoints[j].Addresses[0]
		pr := newProbe(t.gen, claName(serviceName(int(p))), newIP, oldIP, len(hot.Endpoints), clients)
		f.probe.Store(pr)
		t0 := time.Now()
		s, err := replaceEndpoint(ctx, t.cs, hot, j, newIP)
		if err != nil {
			return rd, err
		}
		t1 := time.Now()
		t.hot[p] = s
		select {
		case <-pr.done:
		case <-time.After(10 * time.Second):
			rd.missed++
			logf("  change %d: only %d of %d clients had it after 10 s", k, pr.got.Load(), clients)
		case <-ctx.Done():
			return rd, ctx.Err()
		}
		last, first := time.Unix(0, pr.last.Load()), time.Unix(0, pr.first.Load())
		if pr.got.Load() < pr.want {
			last = t0.Add(10 * time.Second) // counted as 10 s
		}
		rd.fromWrite = append(rd.fromWrite, last.Sub(t0))
		rd.fromReturn = append(rd.fromReturn, max(0, last.Sub(t1)))
		rd.first = append(rd.first, first.Sub(t0))
		rd.write = append(rd.write, t1.Sub(t0))
		// Past the feed's 20 ms window, with jitter so changes do not line
		// up with anything periodic.
		time.Sleep(gap + rand.N(gap/2+1))
		f.probe.Store(nil)
		rd.wrong += pr.wrong.Load()
		rd.checked += pr.got.Load()
		if why := pr.firstWrongReason.Load(); why != nil {
			logf("  change %d: %d wrong assignments, e.g. %s", k, pr.wrong.Load(), *why)
		}
	}
	rd.serverCPU = benchenv.CPUTime(t.sh.Pid()) - server0
	rd.io = readProcIO(t.sh.Pid()).minus(io0)
	return rd, nil
}

// rollout is the rolling-update phase.
type rollout struct {
	clients     int
	pods        int
	writeTime   time.Duration // all the slice updates, one after another
	doneTime    time.Duration // first write → every client has the last
	one         int64         // EDS responses the first client received
	lo, hi      int64         // fewest and most of any client
	mean        float64
	serverDelta float64 // shoal_xds_responses_total{type="eds"} during the rollout
	missed      int64   // clients without the final state after 30 s
	serverCPU   time.Duration
}

// rollOut replaces every endpoint of the rollout service, one slice update
// per pod as fast as the writes go, with new addresses 10.<octet>.x.y, and
// counts the EDS responses the state-of-the-world clients (all watching
// it) receive.
func (t *target) rollOut(ctx context.Context, octet byte) (rollout, error) {
	f := t.fleets[sotw]
	clients := f.active()
	rs := t.rollout
	defer func() { t.rollout = rs }()
	ro := rollout{clients: len(clients), pods: len(rs.Endpoints)}
	server0 := benchenv.CPUTime(t.sh.Pid())
	m0, err := t.sh.Metrics(ctx)
	if err != nil {
		return ro, err
	}
	before := make([]int64, len(clients))
	for i, c := range clients {
		before[i] = c.eds.Load()
	}
	// The last new address; generation -octet is unique to this rollout.
	last := ro.pods - 1
	p := newProbe(-int64(octet), claName(rolloutService), ip4(10, octet, last), rs.Endpoints[last].Addresses[0], ro.pods, len(clients))
	f.probe.Store(p)
	defer f.probe.Store(nil)
	t0 := time.Now()
	for i := range ro.pods {
		if rs, err = replaceEndpoint(ctx, t.cs, rs, i, ip4(10, octet, i)); err != nil {
			return ro, err
		}
	}
	ro.writeTime = time.Since(t0)
	select {
	case <-p.done:
		ro.doneTime = time.Unix(0, p.last.Load()).Sub(t0)
	case <-time.After(30 * time.Second):
		ro.missed = p.want - p.got.Load()
		logf("  rollout: %d of %d clients lack the final state after 30 s", ro.missed, p.want)
	case <-ctx.Done():
		return ro, ctx.Err()
	}
	if p.wrong.Load() > 0 {
		return ro, fmt.Errorf("rollout: %d clients got a wrong final assignment, e.g. %s", p.wrong.Load(), *p.firstWrongReason.Load())
	}
	// Nothing else changes now; let stragglers arrive.
	time.Sleep(time.Second)
	ro.serverCPU = benchenv.CPUTime(t.sh.Pid()) - server0
	m1, err := t.sh.Metrics(ctx)
	if err != nil {
		return ro, err
	}
	a, _ := m0.Value("shoal_xds_responses_total", "type", "eds")
	b, _ := m1.Value("shoal_xds_responses_total", "type", "eds")
	ro.serverDelta = b - a
	var sum int64
	for i, c := range clients {
		n := c.eds.Load() - before[i]
		if i == 0 {
			ro.one, ro.lo, ro.hi = n, n, n
		}
		ro.lo, ro.hi = min(ro.lo, n), max(ro.hi, n)
		sum += n
	}
	ro.mean = float64(sum) / float64(len(clients))
	return ro, nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

var closedChan = func() <-chan struct{} { c := make(chan struct{}); close(c); return c }()

// profile takes a 5 s CPU profile of the server (its API server's
// /debug/pprof) into path, if path is set; the channel closes when done.
func profile(ctx context.Context, sh *benchenv.Shoal, path string) <-chan struct{} {
	done := make(chan struct{})
	if path == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		b, err := sh.Get(ctx, "/debug/pprof/profile?seconds=5")
		if err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
		if err != nil {
			logf("cpu profile: %v", err)
		}
	}()
	return done
}
