// Package podautoscaler is the HorizontalPodAutoscaler controller, as
// Kubernetes' pkg/controller/podautoscaler: every sync period it reads each
// HPA's target through its scale subresource, computes the replicas each
// metric asks for (replicas.go), stabilizes and rate-limits them by the v2
// behavior (normalize.go), scales the target and reports status,
// conditions and events as Kubernetes words them.
//
// Metrics come from what Shoal already measures (metrics.go): Resource
// metrics (cpu, memory) from the per-pod load reports node agents put on
// their Leases, and two Pods metrics from the traffic Shoal's proxies
// report over LRS — api.MetricRequestsPerSecond and
// api.MetricInFlightRequests — so a Service scales on load without a
// metrics adapter.
package podautoscaler

import (
	"context"
	"log/slog"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Kubernetes' defaults (kube-controller-manager's --horizontal-pod-autoscaler-*).
const (
	DefaultSyncPeriod              = 15 * time.Second
	DefaultTolerance               = 0.1
	DefaultDownscaleStabilization  = 5 * time.Minute
	DefaultCPUInitializationPeriod = 5 * time.Minute
	DefaultInitialReadinessDelay   = 30 * time.Second
)

// Config tunes the controller; the zero Config is Kubernetes' behaviour.
type Config struct {
	// SyncPeriod is how often every HPA is reconciled.
	SyncPeriod time.Duration
	// Tolerance is the relative change of a metric below which nothing is
	// scaled.
	Tolerance float64
	// DownscaleStabilization is the scale-down stabilization window of an
	// HPA without a behavior, or whose behavior leaves it unset.
	DownscaleStabilization time.Duration
	// CPUInitializationPeriod and InitialReadinessDelay decide which
	// starting pods' CPU samples count.
	CPUInitializationPeriod, InitialReadinessDelay time.Duration
}

func (c *Config) setDefaults() {
	if c.SyncPeriod <= 0 {
		c.SyncPeriod = DefaultSyncPeriod
	}
	if c.Tolerance <= 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.DownscaleStabilization <= 0 {
		c.DownscaleStabilization = DefaultDownscaleStabilization
	}
	if c.CPUInitializationPeriod <= 0 {
		c.CPUInitializationPeriod = DefaultCPUInitializationPeriod
	}
	if c.InitialReadinessDelay <= 0 {
		c.InitialReadinessDelay = DefaultInitialReadinessDelay
	}
}

// Controller scales the targets of HorizontalPodAutoscalers.
type Controller struct {
	reg     *registry.Registry
	caches  *store.Caches
	hpas    *store.Cache
	pods    *store.Cache
	events  *controller.Recorder
	log     *slog.Logger
	cfg     Config
	hist    *history
	metrics metricsSource
	// echoes are the controller's own status writes, whose events need
	// no sync: an HPA is synced when it changes and every SyncPeriod.
	echoes *controller.Echoes
}

var _ controller.Controller = (*Controller)(nil)

// New returns the HorizontalPodAutoscaler controller.
func New(d controller.Deps, cfg Config) *Controller {
	cfg.setDefaults()
	log := d.Logger().With("controller", "horizontal-pod-autoscaler")
	return &Controller{
		reg: d.Registry, caches: d.Caches, events: d.Events, log: log, cfg: cfg, hist: newHistory(), echoes: controller.NewEchoes(),
		hpas: d.Caches.For(registry.HorizontalPodAutoscalers.Resource), pods: d.Caches.For(registry.Pods.Resource),
		metrics: metricsSource{leases: d.Caches.For(registry.Leases.Resource), etcd: d.Registry.Store.Client(), log: log},
	}
}

// Name implements controller.Controller.
func (c *Controller) Name() string { return "horizontal-pod-autoscaler" }

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context) {
	var q *controller.Queue
	q = controller.NewQueue(c.Name(), c.log, func(ctx context.Context, key string) error { return c.sync(ctx, q, key) })
	defer c.hpas.Subscribe(func(e store.Event) {
		if !controller.IsChange(e) || c.echoes.IsEcho(e) {
			return
		}
		if e.Type == watch.Deleted {
			c.hist.forget(controller.Key(e.Object))
		}
		q.AddObject(e)
	})()
	if err := c.caches.WaitSynced(ctx, registry.HorizontalPodAutoscalers.Resource, registry.Pods.Resource, registry.Leases.Resource); err != nil {
		q.ShutDown()
		return
	}
	q.Run(ctx, 5)
}

// sync reconciles one HPA and queues it again for the next period.
func (c *Controller) sync(ctx context.Context, q *controller.Queue, key string) error {
	ns, name := controller.SplitKey(key)
	obj, ok := c.hpas.Get(ns, name)
	if !ok {
		return nil
	}
	hpa := obj.(*autoscalingv2.HorizontalPodAutoscaler).DeepCopy()
	err := c.reconcile(ctx, key, hpa, time.Now())
	q.AddAfter(key, c.cfg.SyncPeriod)
	return err
}
