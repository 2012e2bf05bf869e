package job

import (
	"context"
	"errors"
	"fmt"
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

// jobState is one sync's view of a Job and its pods.
type jobState struct {
	job                        *batchv1.Job
	pods, active               []*corev1.Pod
	ready, terminating         int32
	succeeded, failed          int32
	uncountedOK, uncountedFail map[types.UID]bool
	prevIndexes, indexes       indexSet // completed, before and with this sync's pods
	// finish is the condition the Job is heading for, nil while it runs.
	finish *batchv1.JobCondition
}

// reconcile brings the Job's pods to its spec and counts them into its
// status, as Kubernetes' syncJob does.
func (c *Controller) reconcile(ctx context.Context, q *controller.Queue, key string, job *batchv1.Job, pods []*corev1.Pod, w *controller.Writes) error {
	now := time.Now()
	st := &jobState{job: job, pods: pods}
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	st.uncountedOK, st.uncountedFail = uidSet(job.Status.UncountedTerminatedPods.Succeeded), uidSet(job.Status.UncountedTerminatedPods.Failed)
	for _, p := range pods {
		switch {
		case active(p):
			st.active = append(st.active, p)
			if ready(p) {
				st.ready++
			}
		case terminating(p):
			st.terminating++
		}
	}
	newOK, newFail := st.newlyFinished()
	st.succeeded = job.Status.Succeeded + int32(len(newOK)+len(st.uncountedOK))
	st.failed = job.Status.Failed + int32(len(st.uncountedFail))
	for _, p := range newFail {
		if matchFailurePolicy(job.Spec.PodFailurePolicy, p).count {
			st.failed++
		}
	}
	started := job.Status.StartTime == nil && !suspended(job)
	if started {
		job.Status.StartTime = &metav1.Time{Time: now}
	}
	backoff := c.backoffs.get(key).next(newOK, newFail)

	st.finish = condition(job, batchv1.JobSuccessCriteriaMet)
	if st.finish == nil {
		if t := condition(job, batchv1.JobFailureTarget); t != nil {
			st.finish = t
		} else if msg := failJobMessage(job, pods); msg != "" {
			st.finish = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, msg, now)
		} else if st.failed > *job.Spec.BackoffLimit || pastBackoffLimitOnFailure(job, pods) {
			st.finish = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
		} else if left, ok := deadlineLeft(job, now); ok && left <= 0 {
			st.finish = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
		} else if ok {
			q.AddAfter(key, left)
		}
	}
	if indexed(job) {
		st.prevIndexes = parseIndexes(job.Status.CompletedIndexes, int(*job.Spec.Completions))
		var more []int
		for _, p := range pods {
			if ix := indexOf(p); p.Status.Phase == corev1.PodSucceeded && ix != noIndex && ix < int(*job.Spec.Completions) && hasFinalizer(p) {
				more = append(more, ix)
			}
		}
		st.indexes = st.prevIndexes.with(more)
		st.succeeded = int32(st.indexes.total())
	}

	var manageErr error
	suspendChanged := false
	nActive := int32(len(st.active))
	if st.finish != nil {
		// The Job is finished: stop what still runs. Those pods keep their
		// finalizers and, if it failed, are counted as failures as they go.
		deleted, err := c.deletePods(ctx, job, st.active, false, w)
		if deleted != nActive {
			st.finish = nil // finish once every pod is accounted for
		}
		nActive -= deleted
		st.terminating += deleted
		manageErr = err
	} else {
		if job.DeletionTimestamp == nil {
			nActive, manageErr = c.manage(ctx, q, key, st, backoff, now, w)
		}
		complete := nActive == 0 && st.succeeded > 0
		if job.Spec.Completions != nil {
			complete = nActive == 0 && st.succeeded >= *job.Spec.Completions
		}
		switch {
		case complete:
			st.finish = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
		case complete || job.DeletionTimestamp != nil:
		case suspended(job):
			suspendChanged = setCondition(&job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now)
			if suspendChanged {
				c.events.Eventf(job, registry.Jobs, corev1.EventTypeNormal, "Suspended", "Job suspended")
			}
		default:
			suspendChanged = setCondition(&job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
			if suspendChanged {
				c.events.Eventf(job, registry.Jobs, corev1.EventTypeNormal, "Resumed", "Job resumed")
				// activeDeadlineSeconds counts the time a Job is
				// continuously active.
				job.Status.StartTime = &metav1.Time{Time: now}
			}
		}
	}
	changed := started || suspendChanged || nActive != job.Status.Active || job.Status.Ready == nil || *job.Status.Ready != st.ready ||
		job.Status.Terminating == nil || *job.Status.Terminating != st.terminating
	job.Status.Active, job.Status.Ready, job.Status.Terminating = nActive, new(st.ready), new(st.terminating)
	err := c.track(ctx, st, changed, now, w)
	if err == nil {
		c.backoffs.set(key, backoff)
	}
	return errors.Join(manageErr, err)
}

// newlyFinished is the pods that ended (or count as failed) and are not
// yet counted: those that still hold the tracking finalizer.
func (st *jobState) newlyFinished() (succeeded, failedPods []*corev1.Pod) {
	for _, p := range st.pods {
		if !hasFinalizer(p) || st.uncountedOK[p.UID] || st.uncountedFail[p.UID] {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded {
			succeeded = append(succeeded, p)
		} else if failed(p, st.job) {
			failedPods = append(failedPods, p)
		}
	}
	return succeeded, failedPods
}

// manage creates or deletes pods towards the number the Job wants active
// now, and returns how many are active.
func (c *Controller) manage(ctx context.Context, q *controller.Queue, key string, st *jobState, backoff backoffRecord, now time.Time, w *controller.Writes) (int32, error) {
	job := st.job
	nActive := int32(len(st.active))
	if suspended(job) {
		deleted, err := c.deletePods(ctx, job, rankForRemoval(job, st.active, len(st.active)), true, w)
		st.terminating += deleted
		return nActive - deleted, err
	}
	want := *job.Spec.Parallelism
	if job.Spec.Completions == nil {
		// A work queue: once one pod succeeded, the rest finish their work.
		if st.succeeded > 0 {
			want = nActive
		}
	} else {
		want = max(0, min(want, *job.Spec.Completions-st.succeeded))
	}
	if remove := rankForRemoval(job, st.active, int(max(0, nActive-want))); len(remove) > 0 {
		deleted, err := c.deletePods(ctx, job, remove[:min(len(remove), maxPodChangesPerSync)], true, w)
		st.terminating += deleted
		return nActive - deleted, err
	}
	// A pod being deleted still runs: with TerminatingOrFailed it is
	// replaced at once, with Failed only when it has failed.
	var stillRunning int32
	if job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed {
		stillRunning = st.terminating
	}
	n := int(want - stillRunning - nActive)
	if n <= 0 {
		return nActive, nil
	}
	if wait := backoff.remaining(now, c.cfg.PodFailureBackoff, c.cfg.MaxPodFailureBackoff); wait > 0 {
		q.AddAfter(key, wait)
		return nActive, nil
	}
	n = min(n, maxPodChangesPerSync)
	var indexes []int
	if indexed(job) {
		indexes = pendingIndexes(st.indexes, st.active, n, int(*job.Spec.Completions))
		n = len(indexes)
	}
	created, err := c.createPods(ctx, job, n, indexes, w)
	return nActive + int32(created), err
}

// rankForRemoval returns at least n of the active pods to delete, first
// (for an Indexed Job) those with no valid index or a duplicate one, then
// the least advanced: unscheduled, pending, not ready, newest.
func rankForRemoval(job *batchv1.Job, pods []*corev1.Pod, n int) []*corev1.Pod {
	ranked := slices.Clone(pods)
	sort.SliceStable(ranked, func(i, j int) bool { return removeBefore(ranked[i], ranked[j]) })
	var out, keep []*corev1.Pod
	if indexed(job) {
		seen := map[int]bool{}
		// Keep the most advanced pod of each index: look at them last first.
		for i := len(ranked) - 1; i >= 0; i-- {
			p := ranked[i]
			ix := indexOf(p)
			if ix == noIndex || ix >= int(*job.Spec.Completions) || seen[ix] {
				out = append(out, p)
				continue
			}
			seen[ix] = true
			keep = append([]*corev1.Pod{p}, keep...)
		}
	} else {
		keep = ranked
	}
	for _, p := range keep {
		if len(out) >= n {
			break
		}
		out = append(out, p)
	}
	return out
}

func removeBefore(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if (a.Status.Phase == corev1.PodPending) != (b.Status.Phase == corev1.PodPending) {
		return a.Status.Phase == corev1.PodPending
	}
	if ready(a) != ready(b) {
		return !ready(a)
	}
	return a.CreationTimestamp.After(b.CreationTimestamp.Time)
}

// track counts the finished pods into the status and lets them go, in
// Kubernetes' two steps, so that none is counted twice or lost: the uids
// of finished pods go into status.uncountedTerminatedPods (written), their
// finalizers are removed, and then they move from there to the counters.
// When the Job is finished and every pod is counted and gone, it gets its
// Complete or Failed condition.
func (c *Controller) track(ctx context.Context, st *jobState, flush bool, now time.Time, w *controller.Writes) error {
	job := st.job
	withFinalizer := map[types.UID]bool{}
	for _, p := range st.pods {
		if hasFinalizer(p) {
			withFinalizer[p.UID] = true
		}
	}
	flush = countUncounted(&job.Status, withFinalizer) || flush
	uncounted := job.Status.UncountedTerminatedPods
	var release []*corev1.Pod
	var newIndexes []int
	for _, p := range st.pods {
		if !hasFinalizer(p) {
			continue
		}
		isFailed := failed(p, job)
		if !(job.DeletionTimestamp != nil || st.finish != nil || p.Status.Phase == corev1.PodSucceeded || isFailed) {
			continue // still running, and counts for the Job
		}
		release = append(release, p)
		ix := indexOf(p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !st.uncountedFail[p.UID]:
			if indexed(job) {
				if ix != noIndex && ix < int(*job.Spec.Completions) && !st.prevIndexes.has(ix) {
					newIndexes = append(newIndexes, ix)
				}
			} else if !st.uncountedOK[p.UID] {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				flush = true
			}
		case isFailed || (st.finish != nil && st.finish.Type != batchv1.JobSuccessCriteriaMet):
			// Once the Job failed, every pod that did not succeed failed.
			validIndex := !indexed(job) || (ix != noIndex && ix < int(*job.Spec.Completions))
			if !st.uncountedFail[p.UID] && validIndex && matchFailurePolicy(job.Spec.PodFailurePolicy, p).count {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				flush = true
			}
		}
	}
	if indexed(job) {
		st.indexes = st.indexes.with(newIndexes)
		if s := st.indexes.String(); s != job.Status.CompletedIndexes {
			job.Status.CompletedIndexes = s
			flush = true
		}
		job.Status.Succeeded = int32(st.indexes.total())
	}
	// The interim condition goes in first, with the uids; the final one
	// once every pod is counted.
	var final *batchv1.JobCondition
	if f := st.finish; f != nil {
		if condition(job, f.Type) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *f)
			flush = true
		}
		finalType := batchv1.JobFailed
		if f.Type == batchv1.JobSuccessCriteriaMet {
			finalType = batchv1.JobComplete
		}
		final = newCondition(finalType, f.Reason, f.Message, now)
	}
	if flush {
		if err := c.writeStatus(ctx, job, w); err != nil {
			return fmt.Errorf("add finished pods to the status of job %s: %w", controller.Key(job), err)
		}
		flush = false
	}
	done, rmErr := c.removeFinalizers(ctx, release, w)
	for i, p := range release {
		if done[i] {
			delete(withFinalizer, p.UID)
		}
	}
	flush = countUncounted(&job.Status, withFinalizer)
	finishedNow := false
	if final != nil && rmErr == nil && len(uncounted.Succeeded)+len(uncounted.Failed) == 0 && st.terminating == 0 {
		setCondition(&job.Status.Conditions, final.Type, corev1.ConditionTrue, final.Reason, final.Message, now)
		if final.Type == batchv1.JobComplete {
			job.Status.CompletionTime = &metav1.Time{Time: now}
		}
		finishedNow, flush = true, true
	}
	if flush {
		if err := c.writeStatus(ctx, job, w); err != nil {
			return errors.Join(rmErr, fmt.Errorf("count finished pods in the status of job %s: %w", controller.Key(job), err))
		}
	}
	if finishedNow {
		if final.Type == batchv1.JobComplete {
			c.events.Eventf(job, registry.Jobs, corev1.EventTypeNormal, "Completed", "Job completed")
		} else {
			c.events.Eventf(job, registry.Jobs, corev1.EventTypeWarning, final.Reason, "%s", final.Message)
		}
	}
	return rmErr
}

// countUncounted moves the uids of pods whose finalizers are gone from
// uncountedTerminatedPods to the counters; it reports a change.
func countUncounted(s *batchv1.JobStatus, withFinalizer map[types.UID]bool) bool {
	u := s.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		return slices.DeleteFunc(slices.Clone(uids), func(uid types.UID) bool { return !withFinalizer[uid] })
	}
	ok, fail := keep(u.Succeeded), keep(u.Failed)
	changed := len(ok) != len(u.Succeeded) || len(fail) != len(u.Failed)
	s.Succeeded += int32(len(u.Succeeded) - len(ok))
	s.Failed += int32(len(u.Failed) - len(fail))
	u.Succeeded, u.Failed = ok, fail
	return changed
}

func (c *Controller) writeStatus(ctx context.Context, job *batchv1.Job, w *controller.Writes) error {
	res, err := c.reg.Update(ctx, registry.Jobs, job.Namespace, job.Name, "status", func(cur store.Object) (store.Object, error) {
		j := cur.(*batchv1.Job)
		if j.UID != job.UID {
			return nil, apierrors.NewConflict(registry.Jobs.GroupResource(), job.Name, errors.New("job was replaced"))
		}
		if apiequality.Semantic.DeepEqual(j.Status, job.Status) {
			return j, nil
		}
		j.Status = *job.Status.DeepCopy()
		j.ResourceVersion = ""
		return j, nil
	}, registry.WriteOptions{})
	if err != nil {
		return err
	}
	w.Wrote(c.jobs, res.Object)
	return nil
}

// failJobMessage is the message of the first failed pod the Job's
// podFailurePolicy fails the Job for.
func failJobMessage(job *batchv1.Job, pods []*corev1.Pod) string {
	if job.Spec.PodFailurePolicy == nil {
		return ""
	}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodFailed && hasFinalizer(p) {
			if m := matchFailurePolicy(job.Spec.PodFailurePolicy, p); m.failJob != "" {
				return m.failJob
			}
		}
	}
	return ""
}

// pastBackoffLimitOnFailure reports whether the containers of a Job whose
// pods restart in place (OnFailure) have restarted backoffLimit times.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending {
			for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				restarts += s.RestartCount
			}
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

// deadlineLeft is the time left before activeDeadlineSeconds; ok is false
// when there is no deadline running.
func deadlineLeft(job *batchv1.Job, now time.Time) (time.Duration, bool) {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || suspended(job) {
		return 0, false
	}
	return job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now), true
}

func newCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	at := metav1.NewTime(now)
	return &batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastProbeTime: at, LastTransitionTime: at}
}

// condition is the Job's condition of type t if it is True.
func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// setCondition sets condition t, adding it only if it is to be True; it
// reports a change.
func setCondition(conds *[]batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	for i := range *conds {
		c := &(*conds)[i]
		if c.Type != t {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, message, metav1.NewTime(now)
		return true
	}
	if status != corev1.ConditionTrue {
		return false
	}
	*conds = append(*conds, *newCondition(t, reason, message, now))
	return true
}

func uidSet(uids []types.UID) map[types.UID]bool {
	m := make(map[types.UID]bool, len(uids))
	for _, u := range uids {
		m[u] = true
	}
	return m
}
