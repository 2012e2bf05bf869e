// Package cronjob creates the Jobs of batch/v1 CronJobs on their schedule,
// as Kubernetes' cronjob controller (v2) does: standard cron schedules and
// descriptors (@hourly) in a timeZone, startingDeadlineSeconds,
// concurrencyPolicy Allow, Forbid or Replace, suspend, and the successful
// and failed Jobs kept by the history limits. Each scheduled time makes at
// most one Job (named <cronjob>-<minutes since the epoch>), so a restart
// never runs it twice.
package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Kind is the kind of the objects this controller runs.
var Kind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Config tunes the controller; the zero Config is Kubernetes' behaviour.
type Config struct {
	// Now is the controller's clock (time.Now); tests move it.
	Now func() time.Time
}

// Controller runs CronJobs.
type Controller struct {
	reg      *registry.Registry
	caches   *store.Caches
	cronjobs *store.Cache
	jobs     *store.Cache
	events   *controller.Recorder
	log      *slog.Logger
	now      func() time.Time
}

var _ controller.Controller = (*Controller)(nil)

// New returns the CronJob controller.
func New(d controller.Deps, cfg Config) *Controller {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Controller{
		reg: d.Registry, caches: d.Caches, events: d.Events, log: d.Logger().With("controller", "cronjob"), now: cfg.Now,
		cronjobs: d.Caches.For(registry.CronJobs.Resource), jobs: d.Caches.For(registry.Jobs.Resource),
	}
}

// Name implements controller.Controller.
func (c *Controller) Name() string { return "cronjob" }

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context) {
	var q *controller.Queue
	q = controller.NewQueue(c.Name(), c.log, func(ctx context.Context, key string) error { return c.sync(ctx, q, key) })
	defer c.cronjobs.Subscribe(func(e store.Event) {
		if controller.IsChange(e) {
			q.AddObject(e)
		}
	})()
	defer c.jobs.Subscribe(func(e store.Event) {
		if !controller.IsChange(e) {
			return
		}
		if ref := metav1.GetControllerOfNoCopy(e.Object); ref != nil && controller.IsKind(ref, Kind) {
			q.Add(e.Object.GetNamespace() + "/" + ref.Name)
		}
	})()
	if err := c.caches.WaitSynced(ctx, registry.CronJobs.Resource, registry.Jobs.Resource); err != nil {
		q.ShutDown()
		return
	}
	q.Run(ctx, 5)
}

func (c *Controller) sync(ctx context.Context, q *controller.Queue, key string) error {
	ns, name := controller.SplitKey(key)
	obj, ok := c.cronjobs.Get(ns, name)
	if !ok {
		return nil // its Jobs go with it, through the garbage collector
	}
	cj := obj.(*batchv1.CronJob).DeepCopy()
	orig := cj.Status.DeepCopy()
	var jobs []*batchv1.Job
	for _, o := range c.jobs.List(ns, store.Predicate{}) {
		if ref := metav1.GetControllerOfNoCopy(o); ref != nil && ref.UID == cj.UID {
			jobs = append(jobs, o.(*batchv1.Job))
		}
	}
	var w controller.Writes
	next, err := c.reconcile(ctx, cj, jobs, &w)
	if cj.DeletionTimestamp == nil {
		c.cleanup(ctx, cj, jobs, &w)
	}
	if !apiequality.Semantic.DeepEqual(orig, &cj.Status) {
		err = errors.Join(err, c.writeStatus(ctx, cj, &w))
	}
	if next > 0 {
		q.AddAfter(key, next)
	}
	return errors.Join(err, w.Wait(ctx))
}

// reconcile updates the active list from the Jobs and creates the Job of
// the most recent due schedule; it returns when to look again.
func (c *Controller) reconcile(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, w *controller.Writes) (time.Duration, error) {
	now := c.now()
	children := map[types.UID]bool{}
	for _, j := range jobs {
		children[j.UID] = true
		active := slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == j.UID })
		done, cond := finished(j)
		switch {
		case !active && !done:
			c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case active && done:
			removeActive(cj, j.UID)
			c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, cond)
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime
		}
	}
	for _, ref := range slices.Clone(cj.Status.Active) {
		if children[ref.UID] {
			continue
		}
		// Not in the cache: ask etcd before calling it gone.
		_, err := c.reg.Store.Get(ctx, registry.Jobs.Resource, ref.Namespace, ref.Name)
		if apierrors.IsNotFound(err) {
			c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
			removeActive(cj, ref.UID)
		} else if err != nil {
			return 0, fmt.Errorf("look up job %s of cronjob %s: %w", ref.Name, controller.Key(cj), err)
		}
	}
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return 0, nil
	}
	sched, err := schedule(cj)
	if err != nil {
		c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return 0, nil // until the spec changes
	}
	_, due, missed, err := mostRecent(cj, now, sched, true)
	if err != nil {
		c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	if missed > tooManyMissed {
		c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	next := nextIn(cj, now, sched)
	if due == nil {
		return next, nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && due.Add(time.Duration(*d)*time.Second).Before(now) {
		c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", due.UTC().Format(time.RFC1123Z))
		return next, nil
	}
	name := jobName(cj, *due)
	if slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name }) ||
		(cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*due)) {
		return next, nil // this time is done
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range slices.Clone(cj.Status.Active) {
			if err := c.deleteJob(ctx, cj, ref.Name, ref.UID, w); err != nil {
				return 0, fmt.Errorf("replace job %s: %w", ref.Name, err)
			}
		}
	}
	job, err := c.createJob(ctx, cj, *due, w)
	if err != nil || job == nil {
		return 0, err
	}
	cj.Status.Active = append(cj.Status.Active, corev1.ObjectReference{Kind: "Job", APIVersion: batchv1.SchemeGroupVersion.String(),
		Namespace: job.Namespace, Name: job.Name, UID: job.UID, ResourceVersion: job.ResourceVersion})
	cj.Status.LastScheduleTime = &metav1.Time{Time: *due}
	return next, nil
}

// createJob creates the Job of the scheduled time at; a Job of that name
// already made for the CronJob (before a restart lost the status) is
// taken, one made by someone else is left alone (nil).
func (c *Controller) createJob(ctx context.Context, cj *batchv1.CronJob, at time.Time, w *controller.Writes) (*batchv1.Job, error) {
	loc := time.UTC
	if cj.Spec.TimeZone != nil {
		loc, _ = time.LoadLocation(*cj.Spec.TimeZone) // checked by schedule
	}
	annotations := maps.Clone(cj.Spec.JobTemplate.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = at.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cj.Namespace, Name: jobName(cj, at),
			Labels: maps.Clone(cj.Spec.JobTemplate.Labels), Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, Kind)},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
	res, err := c.reg.Create(ctx, registry.Jobs, job, registry.WriteOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, nil
	case apierrors.IsAlreadyExists(err):
		o, err := c.reg.Store.Get(ctx, registry.Jobs.Resource, job.Namespace, job.Name)
		if err != nil {
			return nil, fmt.Errorf("get job %s: %w", job.Name, err)
		}
		if !metav1.IsControlledBy(o, cj) || slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == o.GetUID() }) {
			return nil, nil
		}
		return o.(*batchv1.Job), nil
	case err != nil:
		c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, fmt.Errorf("create job of cronjob %s: %w", controller.Key(cj), err)
	}
	w.Wrote(c.jobs, res.Object)
	c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", res.Object.GetName())
	return res.Object.(*batchv1.Job), nil
}

// deleteJob deletes one of the CronJob's Jobs (the garbage collector then
// deletes its pods) and drops it from the active list.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name string, uid types.UID, w *controller.Writes) error {
	obj, err := c.reg.Delete(ctx, registry.Jobs, cj.Namespace, name, &store.Preconditions{UID: string(uid)}, registry.WriteOptions{})
	switch {
	case err == nil:
		w.Deleted(c.jobs, obj)
		c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
	default:
		c.events.Eventf(cj, registry.CronJobs, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return err
	}
	removeActive(cj, uid)
	return nil
}

// cleanup deletes the oldest finished Jobs beyond the history limits.
func (c *Controller) cleanup(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, w *controller.Writes) {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch _, cond := finished(j); cond {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	for _, set := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{succeeded, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if set.limit == nil || len(set.jobs) <= int(*set.limit) {
			continue
		}
		sort.Slice(set.jobs, func(i, k int) bool { return startedBefore(set.jobs[i], set.jobs[k]) })
		for _, j := range set.jobs[:len(set.jobs)-int(*set.limit)] {
			if err := c.deleteJob(ctx, cj, j.Name, j.UID, w); err != nil {
				c.log.Info("delete a cronjob's old job", "cronjob", controller.Key(cj), "job", j.Name, "err", err)
			}
		}
	}
}

// startedBefore orders Jobs by start time, those not started last, then by
// name.
func startedBefore(a, b *batchv1.Job) bool {
	sa, sb := a.Status.StartTime, b.Status.StartTime
	switch {
	case sa == nil && sb != nil:
		return false
	case sa != nil && sb == nil:
		return true
	case sa != nil && !sa.Equal(sb):
		return sa.Before(sb)
	}
	return a.Name < b.Name
}

// finished reports whether a Job has ended, and how.
func finished(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
	if len(cj.Status.Active) == 0 {
		cj.Status.Active = nil
	}
}

func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob, w *controller.Writes) error {
	res, err := c.reg.Update(ctx, registry.CronJobs, cj.Namespace, cj.Name, "status", func(cur store.Object) (store.Object, error) {
		o := cur.(*batchv1.CronJob)
		if o.UID != cj.UID {
			return nil, controller.ErrClaimGone
		}
		o.Status = *cj.Status.DeepCopy()
		o.ResourceVersion = ""
		return o, nil
	}, registry.WriteOptions{})
	if errors.Is(err, controller.ErrClaimGone) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of cronjob %s: %w", controller.Key(cj), err)
	}
	w.Wrote(c.cronjobs, res.Object)
	return nil
}
