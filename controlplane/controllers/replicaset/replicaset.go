// Package replicaset keeps spec.replicas pods of every ReplicaSet, as
// Kubernetes' replicaset controller does: adoption and release of pods
// (claim.go), which pods go first on a scale-down and how a ReplicaSet's pods
// are counted (pods.go; the deployment controller counts with it too).
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Kind is the kind of the objects this controller keeps.
var Kind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller keeps spec.replicas pods of every ReplicaSet, as
// Kubernetes' replicaset controller does: it adopts orphans its selector
// matches, releases pods it no longer matches, creates pods from the
// template and deletes the surplus (the least useful first), and reports
// replicas, ready, available and fully labeled pods in the status.
type Controller struct {
	reg    *registry.Registry
	caches *store.Caches
	rsets  *store.Cache
	pods   *store.Cache
	events *controller.Recorder
	log    *slog.Logger
	// workers is how many ReplicaSets are synced at once; burst caps the pods
	// one sync creates or deletes (Kubernetes' burstReplicas).
	workers, burst int
}

var _ controller.Controller = (*Controller)(nil)

// New returns the ReplicaSet controller.
func New(d controller.Deps) *Controller {
	log := d.Logger()
	return &Controller{
		reg: d.Registry, caches: d.Caches, events: d.Events, log: log,
		rsets:   d.Caches.For(registry.ReplicaSets.Resource),
		pods:    d.Caches.For(registry.Pods.Resource),
		workers: 5, burst: 500,
	}
}

// Name implements controller.Controller.
func (c *Controller) Name() string { return "replicaset" }

// Run implements controller.Controller. It returns once ctx has ended and
// its syncs in flight are over.
func (c *Controller) Run(ctx context.Context) {
	var q *controller.Queue
	q = controller.NewQueue(c.Name(), c.log, func(ctx context.Context, key string) error { return c.sync(ctx, q, key) })
	defer c.rsets.Subscribe(func(e store.Event) {
		if controller.IsChange(e) {
			q.AddObject(e)
		}
	})()
	defer c.pods.Subscribe(func(e store.Event) { c.onPod(q, e) })()
	if err := c.caches.WaitSynced(ctx, registry.ReplicaSets.Resource, registry.Pods.Resource); err != nil {
		q.ShutDown()
		return
	}
	q.Run(ctx, c.workers)
}

// onPod queues the ReplicaSet that controls a pod, before and after the
// change, or, for an orphan, those that could adopt it.
func (c *Controller) onPod(q *controller.Queue, e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	pod := e.Object.(*corev1.Pod)
	c.enqueuePodOwner(q, pod, e.Type != watch.Deleted)
	if e.Old == nil {
		return
	}
	old := e.Old.(*corev1.Pod)
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(pod)
	if (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID) || !maps.Equal(old.Labels, pod.Labels) {
		c.enqueuePodOwner(q, old, false)
	}
}

func (c *Controller) enqueuePodOwner(q *controller.Queue, pod *corev1.Pod, findAdopters bool) {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if controller.IsKind(ref, Kind) {
			q.Add(pod.Namespace + "/" + ref.Name)
		}
		return
	}
	if !findAdopters || pod.DeletionTimestamp != nil {
		return
	}
	for _, o := range c.rsets.List(pod.Namespace, store.Predicate{}) {
		if sel, ok := replicaSetSelector(o.(*appsv1.ReplicaSet)); ok && sel.Matches(labels.Set(pod.Labels)) {
			q.Add(controller.Key(o))
		}
	}
}

func replicaSetSelector(rs *appsv1.ReplicaSet) (labels.Selector, bool) {
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	return sel, err == nil && !sel.Empty()
}

// sync brings one ReplicaSet's pods to its spec and writes its status.
func (c *Controller) sync(ctx context.Context, q *controller.Queue, key string) error {
	ns, name := controller.SplitKey(key)
	obj, ok := c.rsets.Get(ns, name)
	if !ok {
		return nil // deleted; the garbage collector removes its pods
	}
	rs := obj.(*appsv1.ReplicaSet) // shared with the cache: read only
	sel, ok := replicaSetSelector(rs)
	if !ok {
		return nil // validation forbids it; nothing safe to do
	}
	var w controller.Writes
	pods, err := c.claimPods(ctx, rs, sel, &w)
	if err != nil {
		return err
	}
	var manageErr error
	if rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, rs, pods, &w)
	}
	if err := w.Wait(ctx); err != nil {
		return errors.Join(manageErr, err)
	}
	// Count again from the caches, which now show this sync's writes.
	now := time.Now()
	status, next := replicaSetStatus(rs, c.ownedPods(rs, sel), manageErr, now)
	if !apiequality.Semantic.DeepEqual(rs.Status, status) {
		res, err := c.reg.Update(ctx, registry.ReplicaSets, ns, name, "status", func(cur store.Object) (store.Object, error) {
			r := cur.(*appsv1.ReplicaSet)
			if r.UID != rs.UID {
				return nil, apierrors.NewConflict(registry.ReplicaSets.GroupResource(), name, errors.New("replica set was replaced"))
			}
			r.Status = status
			r.ResourceVersion = ""
			return r, nil
		}, registry.WriteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return errors.Join(manageErr, fmt.Errorf("update status of replica set %s: %w", key, err))
		}
		w.Wrote(c.rsets, res.Object)
		if err := w.Wait(ctx); err != nil {
			return errors.Join(manageErr, err)
		}
	}
	if next > 0 && manageErr == nil {
		q.AddAfter(key, next)
	}
	return manageErr
}

// manageReplicas creates or deletes pods until rs has spec.replicas active
// ones (at most burst per sync).
func (c *Controller) manageReplicas(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod, w *controller.Writes) error {
	var active []*corev1.Pod
	for _, p := range pods {
		if PodActive(p) {
			active = append(active, p)
		}
	}
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	diff := len(active) - int(want)
	switch {
	case diff < 0:
		n := min(-diff, c.burst)
		_, err := slowStartBatch(n, 1, func() error { return c.createPod(ctx, rs, w) })
		return err
	case diff > 0:
		return c.deletePods(ctx, rs, podsForDeletion(active)[:min(diff, c.burst)], w)
	}
	return nil
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet, w *controller.Writes) error {
	for attempt := 0; ; attempt++ {
		res, err := c.reg.Create(ctx, registry.Pods, podFromTemplate(rs), registry.WriteOptions{})
		if apierrors.IsAlreadyExists(err) && attempt < 3 {
			continue // the generated name was taken
		}
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// As Kubernetes: the namespace is going, and its ReplicaSets with it.
			return nil
		}
		if err != nil {
			if ctx.Err() == nil {
				c.events.Eventf(rs, registry.ReplicaSets, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			}
			return fmt.Errorf("create pod for replica set %s: %w", controller.Key(rs), err)
		}
		w.Wrote(c.pods, res.Object)
		c.events.Eventf(rs, registry.ReplicaSets, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", res.Object.GetName())
		return nil
	}
}

func (c *Controller) deletePods(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod, w *controller.Writes) error {
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Go(func() {
			_, err := c.reg.Delete(ctx, registry.Pods, pod.Namespace, pod.Name, &store.Preconditions{UID: string(pod.UID)}, registry.WriteOptions{})
			switch {
			case err == nil:
				w.Deleted(c.pods, pod)
				c.events.Eventf(rs, registry.ReplicaSets, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
				// Already gone (or replaced by a namesake we do not own).
			default:
				if ctx.Err() == nil {
					c.events.Eventf(rs, registry.ReplicaSets, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				}
				errs[i] = fmt.Errorf("delete pod %s of replica set %s: %w", controller.Key(pod), rs.Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// podFromTemplate is a new pod of rs, named by the API (<rs>-<5 random>).
func podFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       rs.Namespace,
			GenerateName:    rs.Name + "-",
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, Kind)},
		},
		Spec: t.Spec,
	}
}

// slowStartBatch calls fn count times, in batches that double from
// initial while every call succeeds, as Kubernetes does so that a
// ReplicaSet that cannot create pods (a quota, a bad template) fails after
// one try rather than a burst. It returns how many calls succeeded.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	done := 0
	for batch := min(count, initial); batch > 0; batch = min(2*batch, count-done) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { errs[i] = fn() })
		}
		wg.Wait()
		for _, err := range errs {
			if err == nil {
				done++
			}
		}
		if err := errors.Join(errs...); err != nil {
			return done, err
		}
	}
	return done, nil
}

// replicaSetStatus is rs's status for its pods, and how long until a ready
// pod becomes available (0: none waits).
func replicaSetStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) (appsv1.ReplicaSetStatus, time.Duration) {
	st := CountPods([]*appsv1.ReplicaSet{rs}, pods, now)[rs.UID]
	status := appsv1.ReplicaSetStatus{
		Replicas:             st.Active,
		FullyLabeledReplicas: st.Labeled,
		ReadyReplicas:        st.Ready,
		AvailableReplicas:    st.Available,
		ObservedGeneration:   rs.Generation,
	}
	var failure *appsv1.ReplicaSetCondition
	for _, cond := range rs.Status.Conditions {
		if cond.Type == appsv1.ReplicaSetReplicaFailure {
			failure = &cond
			continue
		}
		status.Conditions = append(status.Conditions, cond)
	}
	switch {
	case manageErr != nil && failure == nil:
		reason := "FailedCreate"
		if want := rs.Spec.Replicas; want != nil && st.Active > *want {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr != nil:
		status.Conditions = append(status.Conditions, *failure)
	}
	return status, st.NextAvailable
}
