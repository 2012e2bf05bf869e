// Command xds measures Shoal's xDS control plane (`make bench-xds`): how
// fast an endpoint change reaches many ADS clients, what each client and
// each endpoint costs the server in memory, and how many pushes a rollout
// makes.
//
// It builds ./cmd/shoal and runs `shoal up` as a child process on free
// 127.0.0.1 ports with a temp data dir, so the server's memory can be read
// apart from the clients' (/proc/<pid>/status VmRSS, and the Go heap from
// the API server's /metrics). With two or more CPUs the child is pinned to
// CPU 0 and this process (the writer and every ADS client) to CPU 1.
//
// Objects go through the API (client-go, HTTPS, the admin token):
// selector-less Services with one hand-written EndpointSlice each
// (managed-by a name that is not Shoal's controller). The clients are raw
// ADS state-of-the-world streams (envoy's generated
// AggregatedDiscoveryServiceClient), each on its own gRPC connection with
// its own node id, user_agent_name alternating "envoy" and "gRPC Go". Each
// subscribes to EDS for the hot service (svc-0000), the rollout service
// and a few random others, and ACKs every response.
//
// Phases: memory with nothing loaded; services × endpoints loaded (and
// seen complete by an xDS probe client); memory; the rollout service
// created; memory; N clients connected; memory; (a) single-endpoint
// changes with N clients; (c) a 100-pod rollout with N clients watching;
// all but the first few clients closed; (a) again with those few. It
// prints a Markdown table, then published anchors for context.
//
//	go run ./test/bench/xds -services 1000 -endpoints 10 -clients 1000 -few-clients 100
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

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// verbose logs the memory readings' steps.
var verbose bool

type options struct {
	cpuProfile          string
	services, endpoints int
	clients, fewClients int
	random              int
	changes             int
	rollout             int
	gap                 time.Duration
	settle              time.Duration
	parallel            int
	pin                 bool
	dataDir             string
	timeout             time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.services, "services", 1000, "services to create")
	flag.IntVar(&o.endpoints, "endpoints", 10, "endpoints per service")
	flag.IntVar(&o.clients, "clients", 1000, "ADS clients (N)")
	flag.IntVar(&o.fewClients, "few-clients", 100, "clients of the second latency run (the first ones are kept)")
	flag.IntVar(&o.random, "random", 3, "services each client watches besides the hot and the rollout one")
	flag.IntVar(&o.changes, "changes", 50, "single-endpoint changes timed per client count")
	flag.IntVar(&o.rollout, "rollout", 100, "pods of the rolling update")
	flag.DurationVar(&o.gap, "gap", 100*time.Millisecond, "pause between timed changes, beyond the feed's coalescing window")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "idle time before each memory reading")
	flag.IntVar(&o.parallel, "parallel", 16, "concurrent writers while loading and connecting")
	flag.BoolVar(&o.pin, "pin", true, "pin the server to CPU 0 and the clients to CPU 1 (needs taskset and 2 CPUs)")
	flag.StringVar(&o.dataDir, "data-dir", "", "where to make the temp dir (binary, data, log); default the system's temp dir")
	flag.DurationVar(&o.timeout, "timeout", 8*time.Minute, "give up after this long")
	flag.BoolVar(&verbose, "v", false, "log every step of the memory readings")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a 5 s CPU profile of the server, taken during the 1000-client changes, here")
	flag.Parse()
	if o.fewClients > o.clients || o.clients < 1 || o.services < 2 || o.endpoints < 1 || o.rollout < 1 || o.rollout > 250*250 {
		log.Fatal("need 1 <= few-clients <= clients, services >= 2, endpoints >= 1, 1 <= rollout")
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// results is everything the table shows.
type results struct {
	o                          options
	cpus                       string
	load0, load1               string
	loadTime, xdsTime          time.Duration
	connectTime                time.Duration
	empty, loaded, base, conns memory
	latency                    []latency // many clients, then few
	rollouts                   []rollout // many clients, then few
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
		r.cpus = "server (`shoal up`) on CPU 0; writer and clients on CPU 1"
	}
	logf("building ./cmd/shoal and starting shoal up")
	sh, err := benchenv.StartShoal(ctx, benchenv.ShoalOptions{Parent: o.dataDir, Prefix: "shoal-bench-xds-", CPUs: serverCPU})
	if err != nil {
		return err
	}
	defer sh.Stop()
	defer func() {
		select {
		case <-sh.Exited():
			err = fmt.Errorf("%w (shoal up exited; its log ends:\n%s)", err, sh.LogTail(20))
		default:
		}
	}()
	go func() {
		select {
		case <-sh.Exited():
			cancel()
		case <-ctx.Done():
		}
	}()
	if clientCPU != "" {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", clientCPU, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return fmt.Errorf("taskset: %v: %s", err, out)
		}
	}
	logf("shoal up pid %d: API %s, xDS %s", sh.Pid(), sh.REST.Host, sh.XDSAddr)
	if err := waitServing(ctx, sh.XDSAddr, time.Minute); err != nil {
		return err
	}
	cs, err := sh.Clientset()
	if err != nil {
		return err
	}
	if err := createNamespace(ctx, cs); err != nil {
		return err
	}

	// (b) per endpoint: before and after loading.
	logf("memory before loading")
	if r.empty, err = measure(ctx, sh, o.settle); err != nil {
		return err
	}
	logf("loading %d services × %d endpoints through the API", o.services, o.endpoints)
	start := time.Now()
	hot, err := loadServices(ctx, cs, o.services, o.endpoints, o.parallel)
	if err != nil {
		return err
	}
	r.loadTime = time.Since(start)
	want := map[string]int{}
	for i := range o.services {
		want[claName(serviceName(i))] = o.endpoints
	}
	if err := waitEDS(ctx, sh.XDSAddr, want, 3*time.Minute); err != nil {
		return fmt.Errorf("waiting for every ClusterLoadAssignment: %w", err)
	}
	r.xdsTime = time.Since(start)
	logf("loaded in %v; every ClusterLoadAssignment complete over xDS %v after the first write", r.loadTime.Round(time.Millisecond), r.xdsTime.Round(time.Millisecond))
	logf("memory after loading")
	if r.loaded, err = measure(ctx, sh, o.settle); err != nil {
		return err
	}

	// The rollout service, then (b) per client: before and after connecting.
	ips := make([]string, o.rollout)
	for i := range ips {
		ips[i] = ip4(10, 252, i)
	}
	rs, err := createService(ctx, cs, rolloutService, ips)
	if err != nil {
		return err
	}
	if err := waitEDS(ctx, sh.XDSAddr, map[string]int{claName(rolloutService): o.rollout}, time.Minute); err != nil {
		return fmt.Errorf("waiting for the rollout service: %w", err)
	}
	logf("memory before connecting clients")
	if r.base, err = measure(ctx, sh, o.settle); err != nil {
		return err
	}
	f := &fleet{addr: sh.XDSAddr}
	defer f.keep(0)
	logf("connecting %d ADS clients", o.clients)
	start = time.Now()
	err = benchenv.ForEach(o.clients, o.parallel, func(i int) error {
		names := []string{claName(serviceName(0)), claName(rolloutService)}
		for _, k := range rand.Perm(o.services - 1)[:min(o.random, o.services-1)] {
			names = append(names, claName(serviceName(k+1)))
		}
		_, err := f.connect(ctx, i, names)
		return err
	})
	if err != nil {
		return err
	}
	r.connectTime = time.Since(start)
	logf("%d clients connected and answered in %v", o.clients, r.connectTime.Round(time.Millisecond))
	logf("memory with %d clients", o.clients)
	if r.conns, err = measure(ctx, sh, o.settle); err != nil {
		return err
	}
	if err := f.alive(); err != nil {
		return err
	}

	// (a) with N clients, (c), then (a) with few.
	var gen int64
	logf("(a) %d single-endpoint changes, %d clients", o.changes, o.clients)
	profiled := profile(ctx, sh, o.cpuProfile)
	lat, err := timeChanges(ctx, cs, sh, f, &hot, &gen, o.changes, o.gap)
	<-profiled
	if err != nil {
		return err
	}
	r.latency = append(r.latency, lat)
	logf("(c) %d-pod rollout, %d clients", o.rollout, o.clients)
	ro, err := rollOut(ctx, cs, sh, f, &rs, 253)
	if err != nil {
		return err
	}
	r.rollouts = append(r.rollouts, ro)
	if o.fewClients < o.clients {
		f.keep(o.fewClients)
		time.Sleep(time.Second)
		logf("(a) %d single-endpoint changes, %d clients", o.changes, o.fewClients)
		lat, err := timeChanges(ctx, cs, sh, f, &hot, &gen, o.changes, o.gap)
		if err != nil {
			return err
		}
		r.latency = append(r.latency, lat)
		logf("(c) %d-pod rollout, %d clients", o.rollout, o.fewClients)
		ro, err := rollOut(ctx, cs, sh, f, &rs, 254)
		if err != nil {
			return err
		}
		r.rollouts = append(r.rollouts, ro)
	}
	if err := f.alive(); err != nil {
		return err
	}
	r.load1 = benchenv.LoadAverage()
	report(os.Stdout, r)
	return nil
}

// latency is one run of timed single-endpoint changes.
type latency struct {
	clients int
	// fromWrite is from just before the Update call to the last client's
	// response; fromReturn from when the call returned; first to the
	// first client's; write is the Update call itself.
	fromWrite, fromReturn, first, write []time.Duration
	missed                              int // changes not seen by every client within 10 s
	// CPU time the server and this process (clients and writer) used
	// over the run, pauses between changes included.
	serverCPU, clientCPU time.Duration
}

// timeChanges replaces one endpoint of the hot service n times, one change
// at a time, and times each until every active client has it.
func timeChanges(ctx context.Context, cs kubernetes.Interface, sh *benchenv.Shoal, f *fleet, hot **discoveryv1.EndpointSlice, gen *int64, n int, gap time.Duration) (latency, error) {
	clients := len(f.active())
	l := latency{clients: clients}
	server0, self0 := benchenv.CPUTime(sh.Pid()), benchenv.CPUTime(os.Getpid())
	for k := range n {
		*gen++
		ip := ip4(10, 250, int(*gen))
		p := newProbe(*gen, ip, clients)
		f.probe.Store(p)
		t0 := time.Now()
		s, err := replaceEndpoint(ctx, cs, *hot, k%len((*hot).Endpoints), ip)
		if err != nil {
			return l, err
		}
		t1 := time.Now()
		*hot = s
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			l.missed++
			logf("  change %d: only %d of %d clients had it after 10 s", k, p.got.Load(), clients)
		case <-ctx.Done():
			return l, ctx.Err()
		}
		last, first := time.Unix(0, p.last.Load()), time.Unix(0, p.first.Load())
		if p.got.Load() < p.want {
			last = t0.Add(10 * time.Second) // counted as 10 s
		}
		l.fromWrite = append(l.fromWrite, last.Sub(t0))
		l.fromReturn = append(l.fromReturn, max(0, last.Sub(t1)))
		l.first = append(l.first, first.Sub(t0))
		l.write = append(l.write, t1.Sub(t0))
		// Past the feed's 20 ms window, with jitter so changes do not line
		// up with anything periodic.
		time.Sleep(gap + rand.N(gap/2+1))
	}
	f.probe.Store(nil)
	l.serverCPU = benchenv.CPUTime(sh.Pid()) - server0
	l.clientCPU = benchenv.CPUTime(os.Getpid()) - self0
	return l, nil
}

// rollout is phase (c).
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
// counts the EDS responses the clients (all watching it) receive.
func rollOut(ctx context.Context, cs kubernetes.Interface, sh *benchenv.Shoal, f *fleet, rsp **discoveryv1.EndpointSlice, octet byte) (rollout, error) {
	clients := f.active()
	rs := *rsp
	defer func() { *rsp = rs }()
	ro := rollout{clients: len(clients), pods: len(rs.Endpoints)}
	server0 := benchenv.CPUTime(sh.Pid())
	m0, err := sh.Metrics(ctx)
	if err != nil {
		return ro, err
	}
	before := make([]int64, len(clients))
	for i, c := range clients {
		before[i] = c.eds.Load()
	}
	// The last new address; generation -octet is unique to this rollout.
	p := newProbe(-int64(octet), ip4(10, octet, ro.pods-1), len(clients))
	f.probe.Store(p)
	defer f.probe.Store(nil)
	t0 := time.Now()
	for i := range ro.pods {
		if rs, err = replaceEndpoint(ctx, cs, rs, i, ip4(10, octet, i)); err != nil {
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
	// Nothing else changes now; let stragglers arrive.
	time.Sleep(time.Second)
	ro.serverCPU = benchenv.CPUTime(sh.Pid()) - server0
	m1, err := sh.Metrics(ctx)
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
