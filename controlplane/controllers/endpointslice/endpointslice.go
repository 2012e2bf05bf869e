// Package endpointslice keeps the EndpointSlices of every Service with a
// selector, as Kubernetes' endpointslice controller does: a plan of the
// fewest writes (plan.go) from the selected pods and the slices there are
// (tracking.go), each slice's identity and labels (meta.go).
package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/endpoint"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// workers is how many services the controller reconciles at once.
const workers = 4

// syncTimeout bounds one reconcile: its writes and the wait for the cache
// to show them.
const syncTimeout = 30 * time.Second

// Controller keeps, for every Service with a selector, the EndpointSlices
// (discovery.k8s.io/v1, IPv4) listing its selected pods, as Kubernetes'
// endpointslice controller does. Services without a selector are left to
// whoever writes their slices. Core/v1 Endpoints are package endpoints'.
type Controller struct {
	deps controller.Deps
	log  *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// syncedHook, when set, is called with the key of every reconcile that ended
// without error. Only tests set it (hook_test.go), to wait for a reconcile
// rather than for time to pass.
var syncedHook atomic.Pointer[func(key string)]

// New returns the controller; Run starts it.
func New(d controller.Deps) *Controller {
	log := d.Logger()
	return &Controller{deps: d, log: log}
}

// Name implements controller.Controller.
func (c *Controller) Name() string { return "endpointslice" }

// Run implements controller.Controller. It may be called again after it
// returns (a leader that lost and won back the lead): each run starts from
// the caches.
func (c *Controller) Run(ctx context.Context) {
	caches := c.deps.Caches
	if err := caches.WaitSynced(ctx, registry.Services.Resource, registry.Pods.Resource, registry.EndpointSlices.Resource); err != nil {
		return
	}
	r := &sliceRun{
		c:          c,
		services:   caches.For(registry.Services.Resource),
		sliceCache: caches.For(registry.EndpointSlices.Resource),
		pods:       endpoint.NewPods(),
		selectors:  endpoint.NewServices(),
		slices:     newSliceIndex(sliceManagedBy),
		echoes:     controller.NewEchoes(),
	}
	r.queue = controller.NewQueue(c.Name(), c.log, r.sync)
	// Every index is full before a worker starts: a reconcile against a
	// half-filled pod index would delete endpoints that exist.
	defer r.sliceCache.Subscribe(r.onSlice)()
	defer caches.For(registry.Pods.Resource).Subscribe(r.onPod)()
	defer r.services.Subscribe(r.onService)()
	r.queue.Run(ctx, workers)
}

// sliceRun is one run of the controller: its indexes and queue.
type sliceRun struct {
	c          *Controller
	services   *store.Cache
	sliceCache *store.Cache
	pods       *endpoint.Pods
	selectors  *endpoint.Services
	slices     *sliceIndex
	echoes     *controller.Echoes
	queue      *controller.Queue
}

func (r *sliceRun) onService(e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	svc := e.Object.(*corev1.Service)
	if e.Type == watch.Deleted {
		r.selectors.Remove(svc.Namespace, svc.Name)
	} else {
		r.selectors.Set(svc)
	}
	r.queue.Add(controller.Key(svc))
}

func (r *sliceRun) onPod(e store.Event) {
	for _, key := range endpoint.ServicesOfPodEvent(e, r.pods, r.selectors) {
		r.queue.Add(key)
	}
}

func (r *sliceRun) onSlice(e store.Event) {
	services := r.slices.apply(e)
	if !controller.IsChange(e) || r.echoes.IsEcho(e) {
		return
	}
	for _, key := range services {
		r.queue.Add(key)
	}
}

// sync reconciles key and, for tests, reports a success to syncedHook.
func (r *sliceRun) sync(ctx context.Context, key string) error {
	err := r.reconcile(ctx, key)
	if h := syncedHook.Load(); h != nil && err == nil {
		(*h)(key)
	}
	return err
}

// reconcile makes the slices of service key what its selector and pods ask for.
func (r *sliceRun) reconcile(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	ns, name := controller.SplitKey(key)
	existing := r.slices.forService(key)
	obj, ok := r.services.Get(ns, name)
	if !ok {
		// The service is gone: so are its slices. (The garbage collector
		// would get there through ownerReferences too, but later.)
		if err := r.apply(ctx, slicePlan{remove: existing}); err != nil {
			return fmt.Errorf("delete endpointslices of deleted service %s: %w", key, err)
		}
		return nil
	}
	svc := obj.(*corev1.Service)
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	plan := planSlices(svc, r.pods.Select(ns, svc.Spec.Selector), existing, maxEndpointsInSlice)
	if svc.DeletionTimestamp != nil {
		// Creating now would race the garbage collector deleting them.
		plan.create = nil
	}
	if err := r.apply(ctx, plan); err != nil {
		if ctx.Err() == nil {
			r.c.deps.Events.Eventf(svc, registry.Services, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
				"Error updating Endpoint Slices for Service %s/%s: %v", svc.Namespace, svc.Name, err)
		}
		return fmt.Errorf("sync endpointslices of %s: %w", key, err)
	}
	return nil
}

// apply writes plan and waits until the slice index shows it, so that the
// next reconcile of the service starts from what was written.
func (r *sliceRun) apply(ctx context.Context, plan slicePlan) error {
	if plan.empty() {
		return nil
	}
	reg := r.c.deps.Registry
	var rev int64
	var gone []string
	for _, s := range plan.create {
		res, err := reg.Create(ctx, registry.EndpointSlices, s, registry.WriteOptions{})
		if apierrors.IsForbidden(err) {
			continue // the namespace is being deleted, and the slices with it
		}
		if err != nil {
			return fmt.Errorf("create endpointslice %s: %w", s.GenerateName, err)
		}
		r.echoes.Wrote(res.Object)
		rev = max(rev, revision(res.Object))
	}
	for _, want := range plan.update {
		res, err := reg.Update(ctx, registry.EndpointSlices, want.Namespace, want.Name, "", func(cur store.Object) (store.Object, error) {
			s := cur.(*discoveryv1.EndpointSlice)
			s.Labels, s.OwnerReferences = want.Labels, want.OwnerReferences
			s.Ports, s.Endpoints = want.Ports, want.Endpoints
			s.ResourceVersion = ""
			return s, nil
		}, registry.WriteOptions{})
		if err != nil {
			return fmt.Errorf("update endpointslice %s: %w", want.Name, err)
		}
		r.echoes.Wrote(res.Object)
		rev = max(rev, revision(res.Object))
	}
	for _, s := range plan.remove {
		_, err := reg.Delete(ctx, registry.EndpointSlices, s.Namespace, s.Name, &store.Preconditions{UID: string(s.UID)}, registry.WriteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpointslice %s: %w", s.Name, err)
		}
		if err == nil {
			r.echoes.Deleted(controller.Key(s))
		}
		gone = append(gone, controller.Key(s))
	}
	if rev > 0 {
		if err := r.sliceCache.WaitForRevision(ctx, rev); err != nil {
			return fmt.Errorf("wait for the endpointslice cache: %w", err)
		}
	}
	if err := r.slices.waitFor(ctx, rev, gone); err != nil {
		return fmt.Errorf("wait for the endpointslice index: %w", err)
	}
	return nil
}

// revision is a write's resourceVersion as an etcd revision.
func revision(o store.Object) int64 {
	n, _ := store.ParseResourceVersion(o.GetResourceVersion())
	return n
}
