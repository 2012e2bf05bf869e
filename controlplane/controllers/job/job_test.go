package job

import (
	"fmt"
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// A Job of 3 completions, 2 at a time, keeps 2 pods running until 3 have
// succeeded, goes SuccessCriteriaMet then Complete, and counts each pod
// once through the tracking finalizer, which it removes.
func TestJobCompletes(t *testing.T) {
	e := newEnv(t)
	j := e.createJob(newJob("pi", func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = new(int32(3)), new(int32(2)) }))
	pods := e.waitRunning("pi", 2)
	for _, p := range pods {
		if !hasFinalizer(p) {
			t.Errorf("pod %s has no %s finalizer", p.Name, batchv1.JobTrackingFinalizer)
		}
		if p.Labels[batchv1.ControllerUidLabel] != string(j.UID) || p.Labels[batchv1.JobNameLabel] != "pi" {
			t.Errorf("pod %s labels %v; want the job's name and uid", p.Name, p.Labels)
		}
	}
	e.finish(pods[0], 0)
	// One succeeded: one more to go, so two run again.
	more := e.waitRunning("pi", 2)
	for _, p := range more {
		e.finish(p, 0)
	}
	got := e.waitCondition("pi", batchv1.JobComplete)
	if got.Status.Succeeded != 3 || got.Status.Failed != 0 || got.Status.Active != 0 || got.Status.CompletionTime == nil || got.Status.StartTime == nil {
		t.Errorf("status %+v; want 3 succeeded, none failed or active, start and completion times", got.Status)
	}
	if c := condition(got, batchv1.JobSuccessCriteriaMet); c == nil || c.Reason != batchv1.JobReasonCompletionsReached {
		t.Errorf("SuccessCriteriaMet = %+v; want reason %s", c, batchv1.JobReasonCompletionsReached)
	}
	if c := condition(got, batchv1.JobComplete); c.Reason != batchv1.JobReasonCompletionsReached || c.Message != "Reached expected number of succeeded pods" {
		t.Errorf("Complete = %+v", c)
	}
	for _, p := range e.pods("pi") {
		if hasFinalizer(p) {
			t.Errorf("pod %s still has the tracking finalizer", p.Name)
		}
	}
	if n := len(e.pods("pi")); n != 3 {
		t.Errorf("%d pods; want the 3 finished ones kept (for their logs)", n)
	}
	controllertest.Eventually(t, "the Completed event", func() (bool, string) {
		ev := e.Events(got, "Completed")
		return slices.Equal(ev, []string{"Job completed"}), fmt.Sprint(ev)
	})
}

// An Indexed Job of 4 completions, 2 at a time, runs each index once: the
// pods carry the index (annotation, label, JOB_COMPLETION_INDEX from the
// label), the hostname <job>-<index> and the template's subdomain, and a
// failed index is run again.
func TestIndexedJob(t *testing.T) {
	e := newEnv(t)
	e.createJob(newJob("train", func(j *batchv1.Job) {
		j.Spec.Completions, j.Spec.Parallelism = new(int32(4)), new(int32(2))
		j.Spec.CompletionMode = new(batchv1.IndexedCompletion)
		j.Spec.Template.Spec.Subdomain = "workers"
	}))
	byIndex := func(pods []*corev1.Pod) map[string]*corev1.Pod {
		m := map[string]*corev1.Pod{}
		for _, p := range pods {
			m[p.Annotations[batchv1.JobCompletionIndexAnnotation]] = p
		}
		return m
	}
	first := byIndex(e.waitRunning("train", 2))
	for _, ix := range []string{"0", "1"} {
		p := first[ix]
		if p == nil {
			t.Fatalf("no pod for index %s among %s", ix, podSummary(e.pods("train")))
		}
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "train-"+ix || p.Spec.Subdomain != "workers" {
			t.Errorf("pod %s: label %q hostname %q subdomain %q; want index %s, train-%s, workers",
				p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], p.Spec.Hostname, p.Spec.Subdomain, ix, ix)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom == nil || env[0].ValueFrom.FieldRef == nil ||
			env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %s env %+v; want JOB_COMPLETION_INDEX from the index label", p.Name, env)
		}
	}
	e.finish(first["0"], 0)
	e.finish(first["1"], 1) // index 1 fails and runs again
	controllertest.Eventually(t, "indexes 1 and 2 running", func() (bool, string) {
		m := byIndex(e.running("train"))
		return len(m) == 2 && m["1"] != nil && m["2"] != nil, podSummary(e.pods("train"))
	})
	for _, p := range e.running("train") {
		e.finish(p, 0)
	}
	last := e.waitRunning("train", 1)
	if ix := last[0].Annotations[batchv1.JobCompletionIndexAnnotation]; ix != "3" {
		t.Fatalf("last pod runs index %s; want 3", ix)
	}
	e.finish(last[0], 0)
	j := e.waitCondition("train", batchv1.JobComplete)
	if j.Status.CompletedIndexes != "0-3" || j.Status.Succeeded != 4 || j.Status.Failed != 1 {
		t.Errorf("status: completedIndexes %q succeeded %d failed %d; want 0-3, 4, 1", j.Status.CompletedIndexes, j.Status.Succeeded, j.Status.Failed)
	}
}

// A Job whose pods keep failing stops at backoffLimit: FailureTarget, then
// Failed with reason BackoffLimitExceeded, each failure counted once.
func TestJobBackoffLimitExceeded(t *testing.T) {
	e := newEnv(t)
	e.createJob(newJob("flaky", func(j *batchv1.Job) { j.Spec.BackoffLimit = new(int32(2)) }))
	for i := range 3 {
		pods := e.waitRunning("flaky", 1)
		e.finish(pods[0], 1)
		if i < 2 {
			controllertest.Eventually(t, "the failure counted", func() (bool, string) {
				j := e.job("flaky")
				return j.Status.Failed == int32(i+1), fmt.Sprintf("failed %d", j.Status.Failed)
			})
		}
	}
	j := e.waitCondition("flaky", batchv1.JobFailed)
	c := condition(j, batchv1.JobFailed)
	if c.Reason != "BackoffLimitExceeded" || c.Message != "Job has reached the specified backoff limit" {
		t.Errorf("Failed condition %+v", c)
	}
	if condition(j, batchv1.JobFailureTarget) == nil {
		t.Error("no FailureTarget condition before Failed")
	}
	if j.Status.Failed != 3 || j.Status.Succeeded != 0 || j.Status.Active != 0 || j.Status.CompletionTime != nil {
		t.Errorf("status %+v; want 3 failed, nothing active, no completion time", j.Status)
	}
	if n := len(e.pods("flaky")); n != 3 {
		t.Errorf("%d pods; want the 3 failed ones, no more", n)
	}
}

// A Job running past activeDeadlineSeconds has its pods stopped and fails
// with DeadlineExceeded.
func TestJobActiveDeadline(t *testing.T) {
	e := newEnv(t)
	e.createJob(newJob("slow", func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = new(int64(1)) }))
	e.waitRunning("slow", 1)
	j := e.waitCondition("slow", batchv1.JobFailed)
	if c := condition(j, batchv1.JobFailed); c.Reason != "DeadlineExceeded" || c.Message != "Job was active longer than specified deadline" {
		t.Errorf("Failed condition %+v", c)
	}
	if j.Status.Active != 0 || j.Status.Failed != 1 {
		t.Errorf("status %+v; want the stopped pod counted as failed", j.Status)
	}
	if n := len(e.pods("slow")); n != 0 {
		t.Errorf("%d pods left; want the running pod deleted", n)
	}
}

// A suspended Job runs no pods; resumed it does; suspended again its pods
// are deleted without counting as failures.
func TestJobSuspendResume(t *testing.T) {
	e := newEnv(t)
	e.createJob(newJob("later", func(j *batchv1.Job) {
		j.Spec.Suspend = new(true)
		j.Spec.Parallelism, j.Spec.Completions = new(int32(2)), new(int32(2))
	}))
	j := e.waitCondition("later", batchv1.JobSuspended)
	if c := condition(j, batchv1.JobSuspended); c.Reason != "JobSuspended" || j.Status.StartTime != nil || len(e.pods("later")) != 0 {
		t.Errorf("suspended: condition %+v, startTime %v, %d pods; want JobSuspended, no start, no pods", c, j.Status.StartTime, len(e.pods("later")))
	}
	setSuspend := func(v bool) {
		t.Helper()
		if _, err := e.Reg.Update(e.Ctx, registry.Jobs, "default", "later", "", func(cur store.Object) (store.Object, error) {
			cur.(*batchv1.Job).Spec.Suspend = new(v)
			cur.SetResourceVersion("")
			return cur, nil
		}, registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setSuspend(false)
	e.waitRunning("later", 2)
	controllertest.Eventually(t, "Suspended False, JobResumed, and a startTime", func() (bool, string) {
		j = e.job("later")
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobSuspended && c.Status == corev1.ConditionFalse && c.Reason == "JobResumed" && j.Status.StartTime != nil {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", j.Status)
	})
	setSuspend(true)
	controllertest.Eventually(t, "the pods deleted", func() (bool, string) {
		n := len(e.pods("later"))
		return n == 0, podSummary(e.pods("later"))
	})
	j = e.waitCondition("later", batchv1.JobSuspended)
	if j.Status.Failed != 0 || j.Status.Active != 0 {
		t.Errorf("suspended again: status %+v; want nothing failed or active", j.Status)
	}
}

// A finished Job with ttlSecondsAfterFinished 0 is deleted, and its pods
// with it.
func TestJobTTLAfterFinished(t *testing.T) {
	e := newEnv(t)
	e.createJob(newJob("once", func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = new(int32(0)) }))
	e.finish(e.waitRunning("once", 1)[0], 0)
	e.waitGone(registry.Jobs, "once")
	controllertest.Eventually(t, "the pods collected", func() (bool, string) {
		return len(e.pods("once")) == 0, podSummary(e.pods("once"))
	})
}

// A Job deleted while it runs lets its pods go (their finalizers removed)
// and the garbage collector deletes them.
func TestJobDeletedReleasesPods(t *testing.T) {
	e := newEnv(t)
	e.createJob(newJob("gone", func(j *batchv1.Job) { j.Spec.Parallelism, j.Spec.Completions = new(int32(2)), new(int32(4)) }))
	e.waitRunning("gone", 2)
	e.Delete(registry.Jobs, "gone")
	controllertest.Eventually(t, "the pods deleted", func() (bool, string) {
		return len(e.pods("gone")) == 0, podSummary(e.pods("gone"))
	})
}

// A pod failing with an exit code the podFailurePolicy marks FailJob fails
// the Job at once, whatever its backoffLimit; one it marks Ignore does not
// count.
func TestJobPodFailurePolicy(t *testing.T) {
	e := newEnv(t)
	e.createJob(newJob("policy", func(j *batchv1.Job) {
		j.Spec.PodReplacementPolicy = new(batchv1.Failed)
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}}},
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		}}
	}))
	first := e.waitRunning("policy", 1)[0]
	e.finish(first, 3) // ignored: replaced, not counted
	second := e.waitRunning("policy", 1)[0]
	if second.UID == first.UID {
		t.Fatal("the ignored failure was not replaced")
	}
	e.finish(second, 42)
	j := e.waitCondition("policy", batchv1.JobFailed)
	c := condition(j, batchv1.JobFailed)
	want := fmt.Sprintf("Container work for pod default/%s failed with exit code 42 matching FailJob rule at index 1", second.Name)
	if c.Reason != "PodFailurePolicy" || c.Message != want {
		t.Errorf("Failed condition %+v; want reason PodFailurePolicy, message %q", c, want)
	}
	if j.Status.Failed != 1 {
		t.Errorf("failed %d; want 1 (the ignored failure not counted)", j.Status.Failed)
	}
}
