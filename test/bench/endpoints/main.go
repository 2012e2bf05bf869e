// Command endpoints measures how long a pod's readiness change takes to
// reach its EndpointSlice, with many services and pods in the store.
//
// It starts an embedded etcd, the registry, the shared caches and the
// EndpointSlice and Endpoints controllers, creates the services and their
// ready pods, waits for every slice to list them, then flips the Ready
// condition of random pods one at a time. Each flip is timed from the return
// of the pods/status write to the moment a separate EndpointSlice cache (a
// consumer such as DNS or xDS would hold one) shows the new condition. It
// prints a Markdown table.
//
//	go run ./test/bench/endpoints -services 1000 -pods-per-service 10 -flips 500
package main

import (
	"github.com/shoalmesh/shoal/test/bench/benchenv"

	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/endpoints"
	"github.com/shoalmesh/shoal/controlplane/controllers/endpointslice"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

func main() {
	services := flag.Int("services", 1000, "services to create")
	perService := flag.Int("pods-per-service", 10, "ready pods per service")
	flips := flag.Int("flips", 500, "readiness flips to time")
	parallel := flag.Int("parallel", 64, "concurrent writers while creating objects")
	withEndpoints := flag.Bool("endpoints", true, "run the core/v1 Endpoints controller too")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the flip phase to this file")
	dataDir := flag.String("data-dir", "", "where to put etcd's data (a fresh temporary directory in it); default the system's temp dir")
	flag.Parse()
	if err := run(*services, *perService, *flips, *parallel, *withEndpoints, *dataDir, *cpuProfile); err != nil {
		log.Fatal(err)
	}
}

func run(nServices, perService, nFlips, parallel int, withEndpoints bool, dataDir, cpuProfile string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	env, err := benchenv.Start(dataDir, "shoal-bench-endpoints-")
	if err != nil {
		return err
	}
	defer env.Close()
	if err := env.StartRegistry(ctx); err != nil {
		return err
	}
	reg, caches := env.Registry, env.Caches
	deps := controller.Deps{Registry: reg, Caches: caches, Log: slog.New(slog.DiscardHandler)}
	ctrls := []controller.Controller{endpointslice.New(deps)}
	if withEndpoints {
		ctrls = append(ctrls, endpoints.New(deps))
	}
	go controller.Run(ctx, ctrls...)

	// The observer: its own cache of slices, as a consumer holds one.
	obs := newObserver()
	sliceCache := store.NewCache(reg.Store, registry.EndpointSlices.Resource, nil)
	go sliceCache.Run(ctx)
	if err := sliceCache.WaitSynced(ctx); err != nil {
		return err
	}
	defer sliceCache.Subscribe(obs.handle)()

	// Create the services, then their pods with a ready status.
	start := time.Now()
	err = forEach(nServices, parallel, func(i int) error {
		name := fmt.Sprintf("svc-%04d", i)
		_, err := reg.Create(ctx, registry.Services, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		}, registry.WriteOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("create services: %w", err)
	}
	nPods := nServices * perService
	err = forEach(nPods, parallel, func(i int) error {
		svc := fmt.Sprintf("svc-%04d", i/perService)
		name := fmt.Sprintf("%s-%d", svc, i%perService)
		_, err := reg.Create(ctx, registry.Pods, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": svc}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Command: []string{"/bin/app"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		}, registry.WriteOptions{})
		if err != nil {
			return err
		}
		return setReady(ctx, reg, name, podIP(i), true)
	})
	if err != nil {
		return fmt.Errorf("create pods: %w", err)
	}
	created := time.Since(start)
	if err := obs.waitComplete(ctx, nServices, perService, 5*time.Minute); err != nil {
		return err
	}
	complete := time.Since(start)

	// Flip random pods, one at a time.
	ready := make([]bool, nPods)
	for i := range ready {
		ready[i] = true
	}
	lat := make([]time.Duration, 0, nFlips)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for range nFlips {
		i := rand.IntN(nPods)
		svc := fmt.Sprintf("svc-%04d", i/perService)
		name := fmt.Sprintf("%s-%d", svc, i%perService)
		ready[i] = !ready[i]
		p := obs.expect(svc, name, ready[i])
		if err := setReady(ctx, reg, name, podIP(i), ready[i]); err != nil {
			return fmt.Errorf("flip %s: %w", name, err)
		}
		wrote := time.Now()
		select {
		case <-p.seen:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("slice of %s never showed pod %s ready=%v", svc, name, ready[i])
		}
		lat = append(lat, max(0, p.at.Sub(wrote)))
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }

	fmt.Printf("| EndpointSlice update after a pod's Ready changes | value |\n|---|---|\n")
	fmt.Printf("| services × pods per service | %d × %d (%d pods) |\n", nServices, perService, nPods)
	fmt.Printf("| Endpoints controller running too | %v |\n", withEndpoints)
	fmt.Printf("| CPUs (GOMAXPROCS) | %d |\n", runtime.GOMAXPROCS(0))
	fmt.Printf("| create services and ready pods | %.1f s |\n", created.Seconds())
	fmt.Printf("| every slice complete, from the first create | %.1f s |\n", complete.Seconds())
	fmt.Printf("| readiness flips timed | %d |\n", len(lat))
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}} {
		fmt.Printf("| %s | %.1f ms |\n", q.name, ms(pct(q.q)))
	}
	fmt.Printf("| max | %.1f ms |\n", ms(lat[len(lat)-1]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func podIP(i int) string { return fmt.Sprintf("10.244.%d.%d", i/250, i%250+1) }

func setReady(ctx context.Context, reg *registry.Registry, name, ip string, ready bool) error {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	_, err := reg.Update(ctx, registry.Pods, "default", name, "status", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond, LastTransitionTime: metav1.Now()}}
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	return err
}

// forEach runs f(0..n-1) on parallel goroutines and returns the first error.
func forEach(n, parallel int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// observer follows the slices' ready endpoints per service and tells a
// waiting flip when its pod shows the expected condition.
type observer struct {
	mu      sync.Mutex
	ready   map[string]map[string]int // service → slice → ready endpoints
	changed chan struct{}
	probe   atomic.Pointer[probe]
}

type probe struct {
	svc, pod string
	ready    bool
	at       time.Time
	seen     chan struct{}
	once     sync.Once
}

func newObserver() *observer {
	return &observer{ready: map[string]map[string]int{}, changed: make(chan struct{}, 1)}
}

func (o *observer) expect(svc, pod string, ready bool) *probe {
	p := &probe{svc: svc, pod: pod, ready: ready, seen: make(chan struct{})}
	o.probe.Store(p)
	return p
}

func (o *observer) handle(e store.Event) {
	s, ok := e.Object.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	now := time.Now()
	svc := s.Labels[discoveryv1.LabelServiceName]
	if p := o.probe.Load(); p != nil && p.svc == svc && e.Type != watch.Deleted {
		for _, ep := range s.Endpoints {
			if ep.TargetRef != nil && ep.TargetRef.Name == p.pod && ep.Conditions.Ready != nil && *ep.Conditions.Ready == p.ready {
				p.once.Do(func() { p.at = now; close(p.seen) })
			}
		}
	}
	n := 0
	for _, ep := range s.Endpoints {
		if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
			n++
		}
	}
	o.mu.Lock()
	if o.ready[svc] == nil {
		o.ready[svc] = map[string]int{}
	}
	if e.Type == watch.Deleted {
		delete(o.ready[svc], s.Name)
	} else {
		o.ready[svc][s.Name] = n
	}
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

// waitComplete waits until every service's slices hold all its pods, ready.
func (o *observer) waitComplete(ctx context.Context, services, perService int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		o.mu.Lock()
		complete := 0
		for _, bySlice := range o.ready {
			n := 0
			for _, r := range bySlice {
				n += r
			}
			if n == perService {
				complete++
			}
		}
		o.mu.Unlock()
		if complete >= services {
			return nil
		}
		select {
		case <-o.changed:
		case <-deadline:
			return fmt.Errorf("only %d of %d services have all their endpoints after %v", complete, services, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
