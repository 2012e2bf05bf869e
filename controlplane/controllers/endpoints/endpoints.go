// Package endpoints keeps the core/v1 Endpoints of every Service with a
// selector, as Kubernetes' endpoints controller does (see Controller).
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/endpoint"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Controller keeps the core/v1 Endpoints of every Service with a selector,
// named as the service, as Kubernetes' endpoints controller does: ready
// addresses in addresses, the others in notReadyAddresses, ports resolved
// per pod. Like Kubernetes it deletes the Endpoints of a deleted service, and
// at start-up those left behind by services deleted while it was not
// running. It is a controller of its own, beside the endpointslice
// controller, because the two objects are read by different clients and
// neither should wait on the other's writes.
type Controller struct {
	deps controller.Deps
	log  *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// workers is how many services the controller reconciles at once.
const workers = 4

// syncTimeout bounds one reconcile: its writes and the wait for the cache
// to show them.
const syncTimeout = 30 * time.Second

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
func (c *Controller) Name() string { return "endpoints" }

// Run implements controller.Controller; like the endpointslice
// controller's, it may be run again after it returns.
func (c *Controller) Run(ctx context.Context) {
	caches := c.deps.Caches
	if err := caches.WaitSynced(ctx, registry.Services.Resource, registry.Pods.Resource, registry.Endpoints.Resource); err != nil {
		return
	}
	r := &endpointsRun{
		c:         c,
		services:  caches.For(registry.Services.Resource),
		endpoints: caches.For(registry.Endpoints.Resource),
		pods:      endpoint.NewPods(),
		selectors: endpoint.NewServices(),
		echoes:    controller.NewEchoes(),
	}
	r.queue = controller.NewQueue(c.Name(), c.log, r.sync)
	// The Endpoints the cache holds now are queued once, so that those of
	// services that no longer exist go (Kubernetes' checkLeftoverEndpoints).
	// Later ones are left alone until something about their service changes:
	// an operator may write them before the service.
	defer r.endpoints.Subscribe(r.onEndpoints)()
	r.started.Store(true)
	defer caches.For(registry.Pods.Resource).Subscribe(r.onPod)()
	defer r.services.Subscribe(r.onService)()
	r.queue.Run(ctx, workers)
}

type endpointsRun struct {
	c         *Controller
	services  *store.Cache
	endpoints *store.Cache
	pods      *endpoint.Pods
	selectors *endpoint.Services
	echoes    *controller.Echoes
	queue     *controller.Queue
	started   atomic.Bool // the endpoints cache's initial replay is over
}

func (r *endpointsRun) onService(e store.Event) {
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

func (r *endpointsRun) onPod(e store.Event) {
	for _, key := range endpoint.ServicesOfPodEvent(e, r.pods, r.selectors) {
		r.queue.Add(key)
	}
}

func (r *endpointsRun) onEndpoints(e store.Event) {
	if !controller.IsChange(e) || r.echoes.IsEcho(e) {
		return
	}
	if e.Type == watch.Added && r.started.Load() {
		return
	}
	r.queue.AddObject(e)
}

// sync reconciles key and, for tests, reports a success to syncedHook.
func (r *endpointsRun) sync(ctx context.Context, key string) error {
	err := r.reconcile(ctx, key)
	if h := syncedHook.Load(); h != nil && err == nil {
		(*h)(key)
	}
	return err
}

// reconcile makes the Endpoints of service key what its selector and pods ask
// for.
func (r *endpointsRun) reconcile(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	reg := r.c.deps.Registry
	ns, name := controller.SplitKey(key)
	curObj, exists := r.endpoints.Get(ns, name)
	svcObj, ok := r.services.Get(ns, name)
	if !ok {
		if !exists {
			return nil
		}
		_, err := reg.Delete(ctx, registry.Endpoints, ns, name, &store.Preconditions{UID: string(curObj.GetUID())}, registry.WriteOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete endpoints of deleted service %s: %w", key, err)
		}
		r.echoes.Deleted(key)
		return nil
	}
	svc := svcObj.(*corev1.Service)
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	subsets := endpointsSubsets(svc, r.pods.Select(ns, svc.Spec.Selector))
	truncated := truncateSubsets(subsets)
	labels := endpointsLabels(svc)
	if exists {
		cur := curObj.(*corev1.Endpoints)
		_, wasTruncated := cur.Annotations[corev1.EndpointsOverCapacity]
		if wasTruncated == truncated && maps.Equal(cur.Labels, labels) && subsetsEqual(repackSubsets(cur.Subsets), subsets) {
			return nil
		}
	}
	obj, err := r.write(ctx, svc, exists, subsets, labels, truncated)
	if apierrors.IsForbidden(err) && !exists {
		return nil // the namespace is being deleted
	}
	if err != nil {
		if ctx.Err() == nil {
			r.c.deps.Events.Eventf(svc, registry.Services, corev1.EventTypeWarning, "FailedToUpdateEndpoint",
				"Failed to update endpoint %s/%s: %v", svc.Namespace, svc.Name, err)
		}
		return fmt.Errorf("sync endpoints of %s: %w", key, err)
	}
	r.echoes.Wrote(obj)
	rev, _ := store.ParseResourceVersion(obj.GetResourceVersion())
	if err := r.endpoints.WaitForRevision(ctx, rev); err != nil {
		return fmt.Errorf("wait for the endpoints cache: %w", err)
	}
	return nil
}

func (r *endpointsRun) write(ctx context.Context, svc *corev1.Service, exists bool, subsets []corev1.EndpointSubset, labels map[string]string, truncated bool) (store.Object, error) {
	reg := r.c.deps.Registry
	setCapacity := func(ep *corev1.Endpoints) {
		if truncated {
			if ep.Annotations == nil {
				ep.Annotations = map[string]string{}
			}
			ep.Annotations[corev1.EndpointsOverCapacity] = "truncated"
		} else {
			delete(ep.Annotations, corev1.EndpointsOverCapacity)
		}
	}
	if !exists {
		ep := &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name, Labels: labels},
			Subsets:    subsets,
		}
		setCapacity(ep)
		res, err := reg.Create(ctx, registry.Endpoints, ep, registry.WriteOptions{})
		return res.Object, err
	}
	res, err := reg.Update(ctx, registry.Endpoints, svc.Namespace, svc.Name, "", func(cur store.Object) (store.Object, error) {
		ep := cur.(*corev1.Endpoints)
		ep.Subsets, ep.Labels = subsets, labels
		setCapacity(ep)
		ep.ResourceVersion = ""
		return ep, nil
	}, registry.WriteOptions{})
	return res.Object, err
}
