package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/scheduler"
	"github.com/shoalmesh/shoal/controlplane/scheduler/schedulertest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// results of one run.
type results struct {
	nodeSetup time.Duration // nodes and leases created

	createStart []time.Time // per pod: just before its create call
	createDone  []time.Time // per pod: its create call returned
	boundSeen   []time.Time // per pod: the pod watch showed it bound
	boundNode   []string

	cpu     time.Duration // process CPU time (etcd included) over the burst
	metrics benchenv.Metrics
	logs    map[string]int // the scheduler's log messages (Info and above) by message
	load    [3]float64     // /proc/loadavg before the burst
}

// run sets the cluster up, creates the pods and waits for their bindings;
// profile(true) and profile(false) bracket the burst.
func run(parent context.Context, c config, profile func(start bool)) (*results, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	env, err := benchenv.Start(c.dataDir, "shoal-bench-sched-")
	if err != nil {
		return nil, err
	}
	defer env.Close()
	defer cancel() // the caches stop before etcd does
	if err := env.StartRegistry(ctx); err != nil {
		return nil, err
	}
	if err := env.WidenPodCIDRs(c.nodes); err != nil {
		return nil, err
	}
	reg, caches := env.Registry, env.Caches
	r := &results{
		createStart: make([]time.Time, c.pods),
		createDone:  make([]time.Time, c.pods),
		boundSeen:   make([]time.Time, c.pods),
		boundNode:   make([]string, c.pods),
	}

	progress("creating %d nodes and their leases", c.nodes)
	t0 := time.Now()
	nodes, err := benchenv.StartSimNodes(ctx, reg, c.nodes, 16, func(i int) (string, schedulertest.Options) {
		return nodeOptions(i, c.leaseInterval)
	})
	if err != nil {
		return nil, err
	}
	defer nodes.Close()
	r.nodeSetup = time.Since(t0)

	metrics := prometheus.NewRegistry()
	if err := scheduler.RegisterMetrics(metrics); err != nil {
		return nil, err
	}
	logs := newLogCounter()
	sctx, stopScheduler := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		scheduler.New(scheduler.Config{Registry: reg, Caches: caches, Log: slog.New(logs), Binders: c.binders}).Run(sctx)
	}()
	defer func() { stopScheduler(); <-schedDone }()
	select {
	case <-logs.scheduling:
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("the scheduler did not start within a minute")
	}

	// The observer: a subscriber to the process's pod cache, the one the
	// scheduler reads, notes when each pod first shows bound.
	var mu sync.Mutex
	var bound atomic.Int64
	allBound := make(chan struct{})
	defer caches.For(registry.Pods.Resource).Subscribe(func(e store.Event) {
		if e.Type != watch.Added && e.Type != watch.Modified {
			return
		}
		p := e.Object.(*corev1.Pod)
		if p.Namespace != podNamespace || p.Spec.NodeName == "" || !strings.HasPrefix(p.Name, "p-") {
			return
		}
		j, err := strconv.Atoi(p.Name[2:])
		if err != nil || j < 0 || j >= c.pods {
			return
		}
		now := time.Now()
		mu.Lock()
		first := r.boundSeen[j].IsZero()
		if first {
			r.boundSeen[j], r.boundNode[j] = now, p.Spec.NodeName
		}
		mu.Unlock()
		if first && bound.Add(1) == int64(c.pods) {
			close(allBound)
		}
	})()

	// Settle: let the node setup's writes and the first renewals pass.
	time.Sleep(2 * time.Second)
	r.load = loadAvg()
	progress("creating %d pods with %d creators (load average %.2f)", c.pods, c.creators, r.load[0])
	profile(true)
	cpu0 := benchenv.CPUTime(os.Getpid())
	begin := time.Now()
	created := make(chan error, 1)
	go func() {
		created <- benchenv.ForEach(c.pods, c.creators, func(j int) error {
			start := time.Now()
			_, err := reg.Create(ctx, registry.Pods, pod(j), registry.WriteOptions{})
			done := time.Now()
			mu.Lock()
			r.createStart[j], r.createDone[j] = start, done
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("create pod %s: %w", podName(j), err)
			}
			return nil
		})
	}()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(c.timeout)
	defer deadline.Stop()
	creating := true
	for done := false; !done; {
		select {
		case err := <-created:
			if err != nil {
				return nil, err
			}
			creating = false
			progress("all %d pods created in %s", c.pods, time.Since(begin).Round(time.Millisecond))
			created = nil
		case <-allBound:
			done = true
		case <-tick.C:
			progress("%s: %d of %d pods bound", time.Since(begin).Round(time.Second), bound.Load(), c.pods)
		case <-deadline.C:
			return nil, fmt.Errorf("only %d of %d pods bound after %s", bound.Load(), c.pods, c.timeout)
		}
	}
	r.cpu = benchenv.CPUTime(os.Getpid()) - cpu0
	profile(false)
	if creating {
		if err := <-created; err != nil { // every pod is bound, so every create returned
			return nil, err
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if r.metrics, err = benchenv.GatherMetrics(metrics); err != nil {
		return nil, err
	}
	r.logs = logs.counts()
	return r, nil
}

// loadAvg is /proc/loadavg's three averages (zeros if unreadable).
func loadAvg() (l [3]float64) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// logCounter is the scheduler's slog handler: it counts messages at Info
// and above (bind retries, dropped or failed events) and signals the
// scheduler's "scheduling", logged once its caches are synced.
type logCounter struct {
	scheduling chan struct{}
	once       *sync.Once
	mu         *sync.Mutex
	n          map[string]int
}

func newLogCounter() *logCounter {
	return &logCounter{scheduling: make(chan struct{}), once: &sync.Once{}, mu: &sync.Mutex{}, n: map[string]int{}}
}

func (l *logCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }

func (l *logCounter) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == "scheduling" {
		l.once.Do(func() { close(l.scheduling) })
		return nil
	}
	l.mu.Lock()
	l.n[rec.Message]++
	l.mu.Unlock()
	return nil
}

func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

func (l *logCounter) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.n))
	for k, v := range l.n {
		out[k] = v
	}
	return out
}
