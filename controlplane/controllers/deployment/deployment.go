// Package deployment rolls Deployments out through ReplicaSets, as
// Kubernetes' deployment controller does: the ReplicaSets of a template
// (replicasets.go), RollingUpdate and Recreate (rollout.go), revisions for
// rollback (revision.go), and the status `kubectl rollout status` reads
// (status.go).
package deployment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/replicaset"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller rolls Deployments out through ReplicaSets, as
// Kubernetes' deployment controller does: one ReplicaSet per pod template
// (named and labelled with the template's hash), RollingUpdate within
// maxSurge and maxUnavailable or Recreate, proportional scaling, revisions
// for rollback, revisionHistoryLimit, and the status and conditions that
// `kubectl rollout status` waits for.
//
// Unlike Kubernetes it counts available pods from the pod cache rather than
// from the ReplicaSets' status, and never more than a ReplicaSet's
// spec.replicas: a ReplicaSet being scaled down keeps at most that many, so
// a stale status can never let a rollout take away more than maxUnavailable.
type Controller struct {
	reg     *registry.Registry
	caches  *store.Caches
	deploys *store.Cache
	rsets   *store.Cache
	pods    *store.Cache
	events  *controller.Recorder
	log     *slog.Logger
	workers int
}

var _ controller.Controller = (*Controller)(nil)

// New returns the Deployment controller.
func New(d controller.Deps) *Controller {
	log := d.Logger()
	return &Controller{
		reg: d.Registry, caches: d.Caches, events: d.Events, log: log,
		deploys: d.Caches.For(registry.Deployments.Resource),
		rsets:   d.Caches.For(registry.ReplicaSets.Resource),
		pods:    d.Caches.For(registry.Pods.Resource),
		workers: 5,
	}
}

// Name implements controller.Controller.
func (c *Controller) Name() string { return "deployment" }

// Run implements controller.Controller. It returns once ctx has ended and
// its syncs in flight are over.
func (c *Controller) Run(ctx context.Context) {
	var q *controller.Queue
	q = controller.NewQueue(c.Name(), c.log, func(ctx context.Context, key string) error { return c.sync(ctx, q, key) })
	defer c.deploys.Subscribe(func(e store.Event) {
		if controller.IsChange(e) {
			q.AddObject(e)
		}
	})()
	defer c.rsets.Subscribe(func(e store.Event) { c.onReplicaSet(q, e) })()
	defer c.pods.Subscribe(func(e store.Event) { c.onPod(q, e) })()
	if err := c.caches.WaitSynced(ctx, registry.Deployments.Resource, registry.ReplicaSets.Resource, registry.Pods.Resource); err != nil {
		q.ShutDown()
		return
	}
	q.Run(ctx, c.workers)
}

// onReplicaSet queues the Deployment that controls a ReplicaSet, before
// and after the change, or, for an orphan, those that could adopt it.
func (c *Controller) onReplicaSet(q *controller.Queue, e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	rs := e.Object.(*appsv1.ReplicaSet)
	c.enqueueOwner(q, rs, e.Type != watch.Deleted)
	if e.Old == nil {
		return
	}
	old := e.Old.(*appsv1.ReplicaSet)
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(rs)
	if (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID) || !maps.Equal(old.Labels, rs.Labels) {
		c.enqueueOwner(q, old, false)
	}
}

func (c *Controller) enqueueOwner(q *controller.Queue, rs *appsv1.ReplicaSet, findAdopters bool) {
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if controller.IsKind(ref, deploymentKind) {
			q.Add(rs.Namespace + "/" + ref.Name)
		}
		return
	}
	if !findAdopters || rs.DeletionTimestamp != nil {
		return
	}
	for _, o := range c.deploys.List(rs.Namespace, store.Predicate{}) {
		sel, err := metav1.LabelSelectorAsSelector(o.(*appsv1.Deployment).Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			q.Add(controller.Key(o))
		}
	}
}

// onPod queues the Deployment above a pod whose availability changed: the
// controller counts available pods itself.
func (c *Controller) onPod(q *controller.Queue, e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	pod := e.Object.(*corev1.Pod)
	if e.Type == watch.Modified && e.Old != nil && !availabilityChanged(e.Old.(*corev1.Pod), pod) {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || !controller.IsKind(ref, replicaset.Kind) {
		return
	}
	o, ok := c.rsets.Get(pod.Namespace, ref.Name)
	if !ok || o.GetUID() != ref.UID {
		return
	}
	if dref := metav1.GetControllerOfNoCopy(o); dref != nil && controller.IsKind(dref, deploymentKind) {
		q.Add(pod.Namespace + "/" + dref.Name)
	}
}

func availabilityChanged(old, cur *corev1.Pod) bool {
	oldReady, oldSince := replicaset.PodReady(old)
	curReady, curSince := replicaset.PodReady(cur)
	return oldReady != curReady || !oldSince.Equal(curSince) || old.Status.Phase != cur.Status.Phase ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		!maps.Equal(old.Labels, cur.Labels) || !equalOwners(old.OwnerReferences, cur.OwnerReferences)
}

func equalOwners(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID {
			return false
		}
	}
	return true
}

// deploymentSync is one sync of one Deployment: a private copy of it, its
// ReplicaSets (private copies, updated as this sync scales them), the
// counts of their pods, and the writes to wait for at the end.
type deploymentSync struct {
	c   *Controller
	q   *controller.Queue
	key string
	d   *appsv1.Deployment
	// orig is the status as read; the sync writes the status when its
	// result differs.
	orig   appsv1.DeploymentStatus
	rsList []*appsv1.ReplicaSet
	stats  map[types.UID]*replicaset.PodStats
	now    time.Time
	w      controller.Writes
}

func (c *Controller) sync(ctx context.Context, q *controller.Queue, key string) error {
	ns, name := controller.SplitKey(key)
	obj, ok := c.deploys.Get(ns, name)
	if !ok {
		return nil // deleted; the garbage collector removes its ReplicaSets
	}
	d := obj.(*appsv1.Deployment).DeepCopy()
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = new(int32(1))
	}
	s := &deploymentSync{c: c, q: q, key: key, d: d, orig: *d.Status.DeepCopy(), now: time.Now()}
	err := s.run(ctx)
	if werr := s.w.Wait(ctx); werr != nil {
		err = errors.Join(err, werr)
	}
	return err
}

func (s *deploymentSync) run(ctx context.Context) error {
	d := s.d
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil // validation forbids it; selecting everything is never safe
	}
	if s.rsList, err = s.claimReplicaSets(ctx, sel); err != nil {
		return err
	}
	s.stats = replicaset.CountPods(s.rsList, asPods(s.c.pods.List(d.Namespace, store.Predicate{})), s.now)
	for _, st := range s.stats {
		if st.NextAvailable > 0 {
			s.q.AddAfter(s.key, st.NextAvailable)
		}
	}
	if d.DeletionTimestamp != nil {
		newRS, old, err := s.replicaSets(ctx, false)
		if err != nil {
			return err
		}
		return s.syncDeploymentStatus(ctx, withNew(old, newRS), newRS)
	}
	s.checkPausedConditions()
	if d.Spec.Paused || s.isScalingEvent() {
		return s.syncScale(ctx)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return s.rolloutRecreate(ctx)
	}
	return s.rolloutRolling(ctx)
}

func asPods(objs []store.Object) []*corev1.Pod {
	out := make([]*corev1.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*corev1.Pod)
	}
	return out
}

// claimReplicaSets returns private copies of the ReplicaSets d controls and
// selects, after adopting the orphans it selects and releasing those it
// controls but no longer selects.
func (s *deploymentSync) claimReplicaSets(ctx context.Context, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	d := s.d
	var owned, orphans []*appsv1.ReplicaSet
	for _, o := range s.c.rsets.List(d.Namespace, store.Predicate{}) {
		rs := o.(*appsv1.ReplicaSet)
		matches := sel.Matches(labels.Set(rs.Labels))
		ref := metav1.GetControllerOfNoCopy(rs)
		switch {
		case ref != nil && ref.UID == d.UID && matches:
			owned = append(owned, rs.DeepCopy())
		case ref != nil && ref.UID == d.UID:
			if d.DeletionTimestamp == nil {
				if err := s.setReplicaSetOwner(ctx, rs, false); err != nil {
					return nil, err
				}
			}
		case ref == nil && matches && rs.DeletionTimestamp == nil && d.DeletionTimestamp == nil:
			orphans = append(orphans, rs)
		}
	}
	if len(orphans) > 0 {
		fresh, err := s.c.reg.Store.Get(ctx, registry.Deployments.Resource, d.Namespace, d.Name)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("recheck deployment %s before adopting: %w", s.key, err)
		}
		if err == nil && fresh.GetUID() == d.UID && fresh.GetDeletionTimestamp() == nil {
			for _, rs := range orphans {
				if err := s.setReplicaSetOwner(ctx, rs, true); err != nil {
					return nil, err
				}
			}
			// Adopted ones are picked up by the next sync, from the cache.
		}
	}
	for _, rs := range owned {
		if rs.Spec.Replicas == nil {
			rs.Spec.Replicas = new(int32(1))
		}
	}
	return owned, nil
}

// setReplicaSetOwner adopts rs (adopt) or releases it.
func (s *deploymentSync) setReplicaSetOwner(ctx context.Context, rs *appsv1.ReplicaSet, adopt bool) error {
	d := s.d
	res, err := s.c.reg.Update(ctx, registry.ReplicaSets, rs.Namespace, rs.Name, "", func(cur store.Object) (store.Object, error) {
		r := cur.(*appsv1.ReplicaSet)
		if r.UID != rs.UID {
			return nil, controller.ErrClaimGone
		}
		if adopt {
			if metav1.GetControllerOfNoCopy(r) != nil || r.DeletionTimestamp != nil {
				return nil, controller.ErrClaimGone
			}
			r.OwnerReferences = append(r.OwnerReferences, *metav1.NewControllerRef(d, deploymentKind))
		} else {
			r.OwnerReferences = controller.WithoutOwner(r.OwnerReferences, d.UID)
		}
		r.ResourceVersion = ""
		return r, nil
	}, registry.WriteOptions{})
	if errors.Is(err, controller.ErrClaimGone) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set owner of replica set %s: %w", controller.Key(rs), err)
	}
	s.w.Wrote(s.c.rsets, res.Object)
	return nil
}

// available is how many of rs's pods count as available to the rollout:
// those available now, but never more than rs will keep.
func (s *deploymentSync) available(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return min(*rs.Spec.Replicas, s.statsOf(rs).Available)
}

func (s *deploymentSync) statsOf(rs *appsv1.ReplicaSet) *replicaset.PodStats {
	if st, ok := s.stats[rs.UID]; ok {
		return st
	}
	return &replicaset.PodStats{}
}
