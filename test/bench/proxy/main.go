// Command proxy measures Shoal's node proxy against HAProxy on loopback
// (`make bench-proxy`): HTTP/1.1 keep-alive load from wrk through each
// proxy to the same three backends, balanced per request.
//
// It builds ./cmd/shoal and runs `shoal up --agent=off` as a child on free
// 127.0.0.1 ports with a temp data dir, and creates through the API a
// selector-less Service web (ClusterIP, port http 80 → 8080) and one
// EndpointSlice of three ready endpoints 127.0.0.11-13:8080. The backends
// are the program in ./backend, run as a child of their own so that their
// CPU is not counted against the proxies; each counts what it answers.
// `shoal proxy` (a child, as root: it puts the ClusterIP on lo) gets the
// Service over xDS and listens on ClusterIP:80; HAProxy (a child, mode
// http, balance leastconn, keep-alive both sides, nbthread 2, no logging)
// listens on a free 127.0.0.1 port. One proxy runs at a time.
//
// Scenarios: (A) throughput, three equal backends, no delay: Shoal
// least-loaded (its default: power of two choices on requests in flight)
// vs HAProxy leastconn. (B) one slow backend (delays 2ms, 2ms, 20ms by
// default) at fewer connections: Shoal least-loaded, Shoal round robin
// (--round-robin), HAProxy leastconn, and the share of requests each
// backend got. Before a proxy is measured, sequential requests over one
// keep-alive client connection must reach all three backends: each
// request is balanced, not each client connection.
// Each run is a wrk warm-up and then the measured wrk run; CPU per request
// is the proxy process's utime+stime (/proc/<pid>/stat) over the measured
// run divided by the requests wrk completed. It prints a Markdown table.
// shoal up gets a service CIDR of its own (-service-cidr), since its
// proxy puts every ClusterIP of the cluster on lo: kubernetes and kube-dns
// too.
// Every child is stopped on exit (error and SIGINT too), the temp dir
// removed, and the VIP taken off lo if a proxy left it there.
//
// Each scenario runs -rounds rounds, every proxy once per round, the order
// reversed every other round; the table shows each figure's median over the
// rounds and its range. A non-2xx answer or a socket error in a measured run
// fails the bench after the table is printed.
//
//	go run ./test/bench/proxy -rounds 5 -duration 10s -conns 64 -slow-conns 16 -slow-delays 2ms,2ms,20ms
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

type options struct {
	duration, warmup time.Duration
	threads          int
	conns, slowConns int
	slowDelays       []time.Duration
	haproxyThreads   int
	clusterIP        string
	serviceCIDR      string
	rounds           int
	dataDir          string
	timeout          time.Duration
	cpuProfile       string
}

func main() {
	var o options
	var delays string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "each measured wrk run (whole seconds)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "wrk warm-up before each measured run (0 for none)")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	flag.IntVar(&o.conns, "conns", 64, "wrk connections (-c) in scenario A")
	flag.IntVar(&o.slowConns, "slow-conns", 16, "wrk connections (-c) in scenario B")
	flag.StringVar(&delays, "slow-delays", "2ms,2ms,20ms", "scenario B: each backend's delay before answering")
	flag.IntVar(&o.haproxyThreads, "haproxy-threads", 2, "HAProxy's nbthread (Shoal's proxy uses every core)")
	flag.StringVar(&o.serviceCIDR, "service-cidr", "10.97.255.0/24", "shoal up's --service-cidr: a range no other cluster on this machine uses, as every ClusterIP goes on lo")
	flag.StringVar(&o.clusterIP, "cluster-ip", "", "ask for this ClusterIP (in -service-cidr) for the Service web (default: the API server picks one)")
	flag.IntVar(&o.rounds, "rounds", 5, "runs per proxy and scenario, interleaved; the table shows the median of each figure and its range")
	flag.StringVar(&o.dataDir, "data-dir", "", "where to make the temp dir (binaries, data, logs); default the system's temp dir")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of Shoal's proxy during its first measured run of scenario A to this file (from its admin endpoint)")
	flag.Parse()
	for _, s := range strings.Split(delays, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			log.Fatalf("-slow-delays %q: %v", delays, err)
		}
		o.slowDelays = append(o.slowDelays, d)
	}
	if len(o.slowDelays) != len(backendIPs) {
		log.Fatalf("-slow-delays needs %d values", len(backendIPs))
	}
	if o.threads < 1 || o.conns < o.threads || o.slowConns < o.threads || o.duration < time.Second || o.haproxyThreads < 1 || o.rounds < 1 {
		log.Fatal("need threads ≥ 1, conns and slow-conns ≥ threads, duration ≥ 1s, haproxy-threads ≥ 1, rounds ≥ 1")
	}
	start := time.Now()
	err := run(o, start)
	logf("whole bench took %v", time.Since(start).Round(time.Second))
	if err != nil {
		log.Fatal(err)
	}
}

// run is one measurement per (scenario, proxy), in this order; the
// deferred calls end every child and check that lo is as it was.
func run(o options, start time.Time) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if os.Geteuid() != 0 {
		return errors.New("run as root: shoal proxy puts the Service's ClusterIP on lo")
	}
	for _, tool := range []string{"haproxy", "wrk", "ip", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (make bench-proxy installs haproxy and wrk): %w", tool, err)
		}
	}
	f := machineFacts()
	dir, err := os.MkdirTemp(o.dataDir, "shoal-bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cs := &children{dir: dir}
	defer cs.stopAll()

	logf("building ./cmd/shoal and ./test/bench/proxy/backend")
	shoalBin, err := benchenv.BuildShoal(ctx, dir)
	if err != nil {
		return err
	}
	backendBin, err := buildBackend(ctx, dir)
	if err != nil {
		return err
	}
	upBin, err := withServiceCIDR(shoalBin, o.serviceCIDR)
	if err != nil {
		return err
	}
	sh, err := benchenv.StartShoal(ctx, benchenv.ShoalOptions{Parent: dir, Prefix: "shoal-up-", Bin: upBin})
	if err != nil {
		return err
	}
	defer sh.Stop()
	logf("shoal up pid %d: API %s, xDS %s", sh.Pid(), sh.REST.Host, sh.XDSAddr)
	clients, err := sh.Clientset()
	if err != nil {
		return err
	}
	vip, err := createService(ctx, clients, o.clusterIP)
	if err != nil {
		return err
	}
	// Every ClusterIP of this cluster (kubernetes, kube-dns, web) goes on
	// lo while a `shoal proxy` runs; none may be there before.
	vips, err := serviceVIPs(ctx, clients)
	if err != nil {
		return err
	}
	if on, err := onLoopback(vips); err != nil {
		return err
	} else if len(on) > 0 {
		return fmt.Errorf("ClusterIPs %v of the bench's cluster are already on lo: another proxy serves them; try another -service-cidr", on)
	}
	defer func() {
		cs.stopAll() // first: a proxy still running holds the VIPs
		if left, verr := removeVIPs(vips); verr != nil {
			err = errors.Join(err, verr)
		} else if len(left) > 0 {
			logf("warning: %v were left on lo; removed them", left)
		}
		if exec.Command("ip", "link", "show", "shoal0").Run() == nil {
			logf("warning: a shoal0 bridge exists (not this bench's: shoal up ran with --agent=off)")
		}
	}()
	logf("Service %s/%s has ClusterIP %s", namespace, serviceName, vip)
	haAddr, err := benchenv.FreeAddr()
	if err != nil {
		return err
	}
	adminAddr := ""
	if hasFlag(shoalBin, "proxy", "admin-addr") {
		if adminAddr, err = benchenv.FreeAddr(); err != nil {
			return err
		}
	}
	shoalURL := fmt.Sprintf("http://%s/", netip.AddrPortFrom(vip, servicePort))
	haURL := "http://" + haAddr + "/"

	type proxyRun struct {
		name  string
		start func() (*child, error)
		url   string
	}
	shoalLeast := proxyRun{shoalLeastName, func() (*child, error) {
		return cs.startShoalProxy(ctx, shoalBin, sh.XDSAddr, adminAddr, vip, false)
	}, shoalURL}
	shoalRR := proxyRun{shoalRRName, func() (*child, error) {
		return cs.startShoalProxy(ctx, shoalBin, sh.XDSAddr, adminAddr, vip, true)
	}, shoalURL}
	haproxy := proxyRun{haproxyName, func() (*child, error) {
		return cs.startHAProxy(ctx, dir, haAddr, o.haproxyThreads)
	}, haURL}

	scenarios := []struct {
		name    string
		delays  []time.Duration
		load    load
		proxies []proxyRun
	}{
		{"A: equal backends", make([]time.Duration, len(backendIPs)), load{o.threads, o.conns, o.duration}, []proxyRun{shoalLeast, haproxy}},
		{"B: one slow backend", o.slowDelays, load{o.threads, o.slowConns, o.duration}, []proxyRun{shoalLeast, shoalRR, haproxy}},
	}
	var results []summary
	for _, sc := range scenarios {
		logf("scenario %s: backends with delays %v", sc.name, sc.delays)
		be, err := cs.startBackends(ctx, backendBin, sc.delays)
		if err != nil {
			return err
		}
		runs := make([][]measurement, len(sc.proxies))
		// Round by round, so a change in the machine's load hits every
		// proxy alike; every other round in the reverse order, so that
		// none always runs first.
		for round := range o.rounds {
			order := make([]int, len(sc.proxies))
			for i := range order {
				order[i] = i
				if round%2 == 1 {
					order[i] = len(order) - 1 - i
				}
			}
			for _, i := range order {
				p := sc.proxies[i]
				var profile func()
				if o.cpuProfile != "" && adminAddr != "" && p.name == shoalLeastName && round == 0 && len(results) == 0 {
					profile = func() { writeProfile(ctx, adminAddr, o.warmup, sc.load.duration, o.cpuProfile) }
				}
				m, err := measureProxy(ctx, p.name, p.start, p.url, sc.load, o.warmup, sh.Pid(), profile)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", sc.name, p.name, err)
				}
				m.scenario = sc.name
				logf("  %s, round %d: %.0f req/s, p50 %v, p99 %v, %.1f µs CPU/req, shares %s", p.name, round+1, m.rps, m.p50, m.p99, m.cpuPerRequest(), m.sharesString())
				if m.errors != "" {
					logf("  %s, round %d: errors: %s", p.name, round+1, m.errors)
				}
				if on, _ := onLoopback(vips); len(on) > 0 {
					logf("warning: %v still on lo after %s stopped", on, p.name)
				}
				runs[i] = append(runs[i], m)
			}
		}
		be.terminate()
		for i, ms := range runs {
			results = append(results, summarize(sc.name, sc.proxies[i].name, ms))
		}
	}
	f.load1 = benchenv.LoadAverage()
	f.took = time.Since(start)
	report(os.Stdout, o, f, results)
	var bad []string
	for _, r := range results {
		if r.errors != "" {
			bad = append(bad, fmt.Sprintf("%s, %s: %s", r.scenario, r.proxy, r.errors))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("answers other than 2xx, or socket errors, in measured runs:\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

const (
	shoalLeastName = "Shoal least-loaded"
	shoalRRName    = "Shoal round robin"
	haproxyName    = "HAProxy leastconn"
)

// measureProxy starts a proxy, measures it and stops it.
func measureProxy(ctx context.Context, name string, start func() (*child, error), url string, l load, warmup time.Duration, upPid int, during func()) (measurement, error) {
	logf("  %s: starting", name)
	c, err := start()
	if err != nil {
		return measurement{}, err
	}
	defer c.terminate()
	logf("  %s (pid %d): wrk -t%d -c%d, %v warm-up + %v", name, c.pid(), l.threads, l.conns, warmup, l.duration)
	var wg sync.WaitGroup
	if during != nil {
		wg.Go(during)
	}
	m, err := measure(ctx, c, url, l, warmup, upPid)
	wg.Wait()
	m.proxy = name
	return m, err
}

// writeProfile waits out the warm-up, then takes a CPU profile of the
// proxy over most of the measured run from its admin endpoint.
func writeProfile(ctx context.Context, admin string, warmup, d time.Duration, file string) {
	select {
	case <-time.After(warmup + 500*time.Millisecond):
	case <-ctx.Done():
		return
	}
	secs := max(1, int((d-time.Second)/time.Second))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs), nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		logf("warning: CPU profile: %v", err)
		return
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s", res.Status)
	}
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		logf("warning: CPU profile: %v", err)
		return
	}
	logf("  wrote a %ds CPU profile of the proxy to %s", secs, file)
}

// measurement is one row of the table.
type measurement struct {
	scenario, proxy string
	load            load
	wrkResult
	cpu    time.Duration // the proxy process's, over the measured run
	upCPU  time.Duration // shoal up's (the control plane's), over the measured run
	counts []int64       // requests each backend answered in it
}

func (m measurement) cpuPerRequest() float64 {
	if m.requests == 0 {
		return 0
	}
	return float64(m.cpu.Microseconds()) / float64(m.requests)
}

func (m measurement) share(i int) float64 {
	var sum int64
	for _, n := range m.counts {
		sum += n
	}
	if sum == 0 {
		return 0
	}
	return float64(m.counts[i]) / float64(sum)
}

func (m measurement) sharesString() string {
	s := make([]string, len(m.counts))
	for i := range m.counts {
		s[i] = fmt.Sprintf("%.0f%%", 100*m.share(i))
	}
	return strings.Join(s, " / ")
}

// measure runs a warm-up and then the measured wrk run against url, with
// the proxy's and shoal up's (pid upPid) CPU time and the backends'
// counters read around it. Shoal's proxy reports its load to shoal up every
// second, which computes weights from it and sends them back over EDS:
// that work competes for the same CPUs during Shoal's runs only.
func measure(ctx context.Context, c *child, url string, l load, warmup time.Duration, upPid int) (measurement, error) {
	m := measurement{load: l}
	if warmup > 0 {
		if _, _, err := runWrk(ctx, url, load{l.threads, l.conns, warmup}); err != nil {
			return m, fmt.Errorf("warm-up: %w", err)
		}
	}
	before, err := backendCounts()
	if err != nil {
		return m, err
	}
	cpu0, up0 := benchenv.CPUTime(c.pid()), benchenv.CPUTime(upPid)
	r, _, err := runWrk(ctx, url, l)
	m.cpu = benchenv.CPUTime(c.pid()) - cpu0
	m.upCPU = benchenv.CPUTime(upPid) - up0
	if err != nil {
		return m, err
	}
	select {
	case <-c.exited:
		return m, fmt.Errorf("%s exited during the run; its output ends:\n%s", c.name, c.logTail(20))
	default:
	}
	after, err := backendCounts()
	if err != nil {
		return m, err
	}
	m.wrkResult = r
	m.counts = make([]int64, len(after))
	for i := range after {
		m.counts[i] = after[i] - before[i]
	}
	return m, nil
}

// buildBackend builds ./test/bench/proxy/backend into dir.
func buildBackend(ctx context.Context, dir string) (string, error) {
	root, err := benchenv.ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "backend")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./test/bench/proxy/backend")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./test/bench/proxy/backend: %w", err)
	}
	return bin, nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}
