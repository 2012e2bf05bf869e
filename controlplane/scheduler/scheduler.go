package scheduler

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// ElectionKey is the etcd election the scheduler's replicas campaign in
// (with controller.RunElection); see the package documentation for why it
// is not the controllers' election.
const ElectionKey = "/shoal/leader/scheduler"

// DefaultName is the spec.schedulerName of the pods this scheduler places
// (the registry defaults it), and the source of its events.
const DefaultName = "default-scheduler"

// Config is what a Scheduler needs.
type Config struct {
	Registry *registry.Registry
	Caches   *store.Caches
	// Events records Scheduled and FailedScheduling events; nil makes a
	// recorder of the scheduler's own, run while the scheduler runs.
	Events *controller.Recorder
	Log    *slog.Logger
	// Load is the nodes' measured load; nil reads the load reports on node
	// Leases (LeaseLoad).
	Load LoadSource
	// RequestsWeight and LoadWeight weigh the two scores; both zero is 1 each.
	RequestsWeight, LoadWeight float64
	// InitialBackoff and MaxBackoff bound the retries of an unschedulable
	// pod, besides the retry that any change of nodes or pods causes; zero
	// is kube-scheduler's 1 s and 10 s.
	InitialBackoff, MaxBackoff time.Duration
	// Binders is how many bindings (and status writes) are in flight at
	// once; 0 is 64. Each binding is two etcd round trips: with 16 the
	// scheduler fell behind a burst of creates (bench-sched).
	Binders int
	// Name is the spec.schedulerName served; "" is DefaultName.
	Name string
}

// Scheduler places pending pods on nodes. It implements
// controller.Controller, so it runs under leader election like the
// controllers.
type Scheduler struct {
	cfg Config
	log *slog.Logger
}

var _ controller.Controller = (*Scheduler)(nil)

// New returns a scheduler; Run starts it.
func New(cfg Config) *Scheduler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestsWeight == 0 && cfg.LoadWeight == 0 {
		cfg.RequestsWeight, cfg.LoadWeight = 1, 1
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.Binders <= 0 {
		cfg.Binders = 64
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	return &Scheduler{cfg: cfg, log: cfg.Log.With("component", "scheduler")}
}

// Name implements controller.Controller.
func (s *Scheduler) Name() string { return "scheduler" }

// Run schedules pods until ctx ends and every binding in flight has returned
// (a successor leader must not overlap with this one's last writes). Each
// Run starts from the caches afresh.
func (s *Scheduler) Run(ctx context.Context) {
	r := &run{
		Scheduler: s,
		pods:      s.cfg.Caches.For(registry.Pods.Resource),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](s.cfg.InitialBackoff, s.cfg.MaxBackoff),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"}),
		events:        s.cfg.Events,
		load:          s.cfg.Load,
		w:             weights{requests: s.cfg.RequestsWeight, load: s.cfg.LoadWeight},
		sem:           make(chan struct{}, s.cfg.Binders),
		nodes:         map[string]*nodeInfo{},
		usage:         map[string]*usage{},
		placed:        map[string]placement{},
		assumed:       map[string]placement{},
		unschedulable: map[string]struct{}{},
		firstSeen:     map[string]time.Time{},
		lastEvent:     map[string]eventMark{},
	}
	if r.events == nil {
		r.events = controller.NewRecorder(s.cfg.Registry, s.cfg.Name, s.log)
		go r.events.Run(ctx)
	}
	if r.load == nil {
		ll := NewLeaseLoad(0)
		defer ll.Watch(s.cfg.Caches.For(registry.Leases.Resource))()
		r.load = ll
	}
	defer s.cfg.Caches.For(registry.Nodes.Resource).Subscribe(r.onNode)()
	defer r.pods.Subscribe(r.onPod)()
	defer unschedulablePods.Set(0)
	if err := s.cfg.Caches.WaitSynced(ctx, registry.Nodes.Resource, registry.Pods.Resource, registry.Leases.Resource); err != nil {
		r.queue.ShutDown()
		return
	}
	s.log.Info("scheduling")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r.next(ctx) {
		}
	}()
	<-ctx.Done()
	r.queue.ShutDown()
	<-done
	r.wg.Wait()
}

// run is one Run's state: the scheduler's view of nodes and of what is
// placed on them, built from the caches' events.
type run struct {
	*Scheduler
	pods   *store.Cache
	queue  workqueue.TypedRateLimitingInterface[string]
	events *controller.Recorder
	load   LoadSource
	w      weights
	sem    chan struct{} // bounds bindings in flight
	wg     sync.WaitGroup

	mu    sync.Mutex
	nodes map[string]*nodeInfo
	usage map[string]*usage // by node name, whether or not the node exists
	// placed are the pods bound to a node and not finished, as the cache
	// shows them; assumed are those this scheduler has bound (or is
	// binding) that the cache does not show bound yet, kube-scheduler's
	// "assumed pods": both count in usage, so that pods scheduled one after
	// another see each other at once.
	placed, assumed map[string]placement
	// unschedulable pods fit nowhere at their last attempt; a change that
	// may make room (a node added or changed, a pod gone) retries them.
	unschedulable map[string]struct{}
	firstSeen     map[string]time.Time // pending pods: when this run first saw them
	lastEvent     map[string]eventMark // the last FailedScheduling event per pod
}

type placement struct {
	node         string
	req, nonzero resources
}

type eventMark struct {
	msg string
	at  time.Time
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// pending reports whether pod waits for this scheduler.
func (r *run) pending(p *corev1.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil && !terminal(p) &&
		(p.Spec.SchedulerName == r.cfg.Name || p.Spec.SchedulerName == "")
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (r *run) use(p placement, sign int64) {
	u := r.usage[p.node]
	if u == nil {
		u = &usage{}
		r.usage[p.node] = u
	}
	if sign > 0 {
		u.requested, u.nonzero = u.requested.plus(p.req), u.nonzero.plus(p.nonzero)
	} else {
		u.requested, u.nonzero = u.requested.minus(p.req), u.nonzero.minus(p.nonzero)
	}
	u.pods += sign
	if u.pods == 0 {
		delete(r.usage, p.node)
	}
}

// onPod keeps the placements current and queues pending pods.
func (r *run) onPod(e store.Event) {
	if e.Type == store.Relisted || e.Type == watch.Bookmark {
		return
	}
	pod := e.Object.(*corev1.Pod)
	key := podKey(pod)
	var now placement
	bound := e.Type != watch.Deleted && pod.Spec.NodeName != "" && !terminal(pod)
	if bound {
		now.node = pod.Spec.NodeName
		now.req, now.nonzero = podRequests(pod)
	}
	r.mu.Lock()
	old, was := r.placed[key]
	if was {
		r.use(old, -1)
		delete(r.placed, key)
	}
	if bound {
		r.placed[key] = now
		r.use(now, +1)
	}
	if a, ok := r.assumed[key]; ok && (bound || e.Type == watch.Deleted) {
		r.use(a, -1)
		delete(r.assumed, key)
	}
	pending := e.Type != watch.Deleted && r.pending(pod)
	if !pending {
		delete(r.unschedulable, key)
		delete(r.firstSeen, key)
		delete(r.lastEvent, key)
	} else if _, ok := r.firstSeen[key]; !ok {
		r.firstSeen[key] = time.Now()
	}
	freed := was && (!bound || old != now)
	r.mu.Unlock()
	if freed {
		r.retryUnschedulable()
	}
	if pending {
		r.queue.Add(key)
	}
}

// onNode keeps the nodes current; a node that appears or changes in a way
// that matters to filtering may make room for unschedulable pods.
func (r *run) onNode(e store.Event) {
	if e.Type == store.Relisted || e.Type == watch.Bookmark {
		return
	}
	n := e.Object.(*corev1.Node)
	r.mu.Lock()
	old := r.nodes[n.Name]
	var changed bool
	if e.Type == watch.Deleted {
		delete(r.nodes, n.Name)
	} else {
		ni := newNodeInfo(n)
		r.nodes[n.Name] = ni
		changed = old == nil || !reflect.DeepEqual(old, ni)
	}
	r.mu.Unlock()
	if changed {
		r.retryUnschedulable()
	}
}

// retryUnschedulable queues every unschedulable pod again.
func (r *run) retryUnschedulable() {
	r.mu.Lock()
	keys := make([]string, 0, len(r.unschedulable))
	for k := range r.unschedulable {
		keys = append(keys, k)
	}
	clear(r.unschedulable)
	r.mu.Unlock()
	unschedulablePods.Set(0)
	for _, k := range keys {
		r.queue.Add(k)
	}
}

func (r *run) next(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	r.scheduleOne(ctx, key)
	return true
}

// scheduleOne decides where one pod goes, assumes it there, and leaves the
// binding to a binder, so that the next decision need not wait for etcd.
func (r *run) scheduleOne(ctx context.Context, key string) {
	start := time.Now()
	ns, name := controller.SplitKey(key)
	obj, ok := r.pods.Get(ns, name)
	if !ok {
		r.queue.Forget(key)
		return
	}
	pod := obj.(*corev1.Pod)
	req, nonzero := podRequests(pod)
	r.mu.Lock()
	_, isAssumed := r.assumed[key]
	_, isPlaced := r.placed[key]
	if !r.pending(pod) || isAssumed || isPlaced {
		r.mu.Unlock()
		r.queue.Forget(key)
		return
	}
	node, reasons := r.pick(pod, req, nonzero)
	total := len(r.nodes)
	if node != "" {
		p := placement{node: node, req: req, nonzero: nonzero}
		r.assumed[key] = p
		r.use(p, +1)
		delete(r.unschedulable, key)
	} else {
		r.unschedulable[key] = struct{}{}
	}
	n := len(r.unschedulable)
	r.mu.Unlock()
	unschedulablePods.Set(float64(n))

	if node == "" {
		msg := fitMessage(total, reasons)
		r.queue.AddRateLimited(key)
		r.async(func() { r.markUnschedulable(ctx, pod, msg, start) })
		return
	}
	r.async(func() { r.bind(ctx, pod, node, start) })
}

// pick filters and scores every node for pod; it returns the best node, or
// "" and why each node failed. r.mu must be held.
func (r *run) pick(pod *corev1.Pod, req, nonzero resources) (string, map[string]int) {
	var best scored
	found := false
	var reasons map[string]int
	for _, n := range r.nodes {
		var u usage
		if p := r.usage[n.name]; p != nil {
			u = *p
		}
		if why := filter(pod, req, n, u); len(why) > 0 {
			if reasons == nil {
				reasons = map[string]int{}
			}
			for _, w := range why {
				reasons[w]++
			}
			continue
		}
		var m measured
		m.cpuCores, m.memBytes, m.ok = r.load.NodeLoad(n.name)
		if s := scoreNode(n, u, nonzero, m, r.w); !found || better(s, best) {
			best, found = s, true
		}
	}
	if !found {
		return "", reasons
	}
	return best.name, nil
}

// async runs f on a binder, waiting for one to be free: when etcd is slow,
// decisions slow down with it rather than piling up.
func (r *run) async(f func()) {
	r.sem <- struct{}{}
	r.wg.Go(func() {
		defer func() { <-r.sem }()
		f()
	})
}
