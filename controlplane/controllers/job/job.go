// Package job runs batch/v1 Jobs to completion, as Kubernetes' job
// controller does: it keeps up to parallelism pods running until
// completions of them have succeeded (for an Indexed Job, one per index,
// with JOB_COMPLETION_INDEX and a stable hostname), replaces failed pods
// after a doubling back-off until backoffLimit, fails the Job past
// activeDeadlineSeconds or when its podFailurePolicy says so, suspends and
// resumes it, counts finished pods exactly once through the
// batch.kubernetes.io/job-tracking finalizer (status.go), and deletes a
// finished Job once ttlSecondsAfterFinished has passed (ttl.go).
package job

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Kind is the kind of the objects this controller runs.
var Kind = batchv1.SchemeGroupVersion.WithKind("Job")

// Kubernetes' defaults (pkg/controller/job).
const (
	// DefaultPodFailureBackoff is how long a Job waits before replacing
	// its first failed pod; the wait doubles with each further failure.
	DefaultPodFailureBackoff = 10 * time.Second
	// DefaultMaxPodFailureBackoff caps the wait.
	DefaultMaxPodFailureBackoff = 6 * time.Minute
	// maxPodChangesPerSync caps the pods one sync creates or deletes.
	maxPodChangesPerSync = 500
)

// Config tunes the controller; the zero Config is Kubernetes' behaviour.
type Config struct {
	// PodFailureBackoff and MaxPodFailureBackoff bound the back-off after
	// pod failures (DefaultPodFailureBackoff, DefaultMaxPodFailureBackoff).
	PodFailureBackoff, MaxPodFailureBackoff time.Duration
}

// Controller runs Jobs.
type Controller struct {
	reg      *registry.Registry
	caches   *store.Caches
	jobs     *store.Cache
	pods     *store.Cache
	events   *controller.Recorder
	log      *slog.Logger
	cfg      Config
	backoffs backoffs
	workers  int
}

var _ controller.Controller = (*Controller)(nil)

// New returns the Job controller.
func New(d controller.Deps, cfg Config) *Controller {
	if cfg.PodFailureBackoff <= 0 {
		cfg.PodFailureBackoff = DefaultPodFailureBackoff
	}
	if cfg.MaxPodFailureBackoff <= 0 {
		cfg.MaxPodFailureBackoff = DefaultMaxPodFailureBackoff
	}
	return &Controller{
		reg: d.Registry, caches: d.Caches, events: d.Events, log: d.Logger().With("controller", "job"), cfg: cfg,
		jobs: d.Caches.For(registry.Jobs.Resource), pods: d.Caches.For(registry.Pods.Resource), workers: 5,
	}
}

// Name implements controller.Controller.
func (c *Controller) Name() string { return "job" }

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context) {
	var q *controller.Queue
	q = controller.NewQueue(c.Name(), c.log, func(ctx context.Context, key string) error { return c.sync(ctx, q, key) })
	defer c.jobs.Subscribe(func(e store.Event) { c.onJob(q, e) })()
	defer c.pods.Subscribe(func(e store.Event) { c.onPod(q, e) })()
	if err := c.caches.WaitSynced(ctx, registry.Jobs.Resource, registry.Pods.Resource); err != nil {
		q.ShutDown()
		return
	}
	q.Run(ctx, c.workers)
}

// orphanPrefix marks the queue key of a pod that holds the tracking
// finalizer of a Job that is gone or finished.
const orphanPrefix = "pod:"

func (c *Controller) onJob(q *controller.Queue, e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	q.AddObject(e)
	if e.Type != watch.Deleted {
		return
	}
	// Its pods keep their finalizers until this controller lets them go.
	for _, o := range c.pods.List(e.Object.GetNamespace(), store.Predicate{}) {
		if ref := metav1.GetControllerOfNoCopy(o); ref != nil && ref.UID == e.Object.GetUID() && hasFinalizer(o.(*corev1.Pod)) {
			q.Add(orphanPrefix + controller.Key(o))
		}
	}
}

// onPod queues the Job a pod belongs to (before and after the change), the
// Jobs that could adopt an orphan, and an orphan's finalizer for removal.
func (c *Controller) onPod(q *controller.Queue, e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	pod := e.Object.(*corev1.Pod)
	c.enqueueOwner(q, pod, e.Type != watch.Deleted)
	if old, ok := e.Old.(*corev1.Pod); ok {
		oldRef, ref := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(pod)
		if (oldRef == nil) != (ref == nil) || (oldRef != nil && oldRef.UID != ref.UID) || !maps.Equal(old.Labels, pod.Labels) {
			c.enqueueOwner(q, old, false)
		}
	}
}

func (c *Controller) enqueueOwner(q *controller.Queue, pod *corev1.Pod, findAdopters bool) {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if !controller.IsKind(ref, Kind) {
			return
		}
		q.Add(pod.Namespace + "/" + ref.Name)
		if j, ok := c.jobs.Get(pod.Namespace, ref.Name); hasFinalizer(pod) && (!ok || j.GetUID() != ref.UID || finished(j.(*batchv1.Job))) {
			q.Add(orphanPrefix + controller.Key(pod))
		}
		return
	}
	if hasFinalizer(pod) {
		q.Add(orphanPrefix + controller.Key(pod))
	}
	if !findAdopters || pod.DeletionTimestamp != nil {
		return
	}
	for _, o := range c.jobs.List(pod.Namespace, store.Predicate{}) {
		if sel, ok := selectorOf(o.(*batchv1.Job)); ok && sel.Matches(labels.Set(pod.Labels)) {
			q.Add(controller.Key(o))
		}
	}
}

func selectorOf(j *batchv1.Job) (labels.Selector, bool) {
	sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	return sel, err == nil && !sel.Empty()
}

// sync reconciles one Job, or lets go of one orphan pod.
func (c *Controller) sync(ctx context.Context, q *controller.Queue, key string) error {
	if podKey, ok := strings.CutPrefix(key, orphanPrefix); ok {
		return c.releaseOrphan(ctx, podKey)
	}
	ns, name := controller.SplitKey(key)
	obj, ok := c.jobs.Get(ns, name)
	if !ok {
		c.backoffs.set(key, backoffRecord{})
		return nil
	}
	job := obj.(*batchv1.Job).DeepCopy()
	if finished(job) {
		c.backoffs.set(key, backoffRecord{})
		return c.expire(ctx, q, job)
	}
	sel, ok := selectorOf(job)
	if !ok {
		return nil // validation forbids it; nothing safe to do
	}
	var w controller.Writes
	pods, err := c.claimPods(ctx, job, sel, &w)
	if err == nil {
		err = c.reconcile(ctx, q, key, job, pods, &w)
	}
	return errors.Join(err, w.Wait(ctx))
}

// finished reports whether the Job has its Complete or Failed condition.
func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func suspended(j *batchv1.Job) bool { return j.Spec.Suspend != nil && *j.Spec.Suspend }

func indexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}
