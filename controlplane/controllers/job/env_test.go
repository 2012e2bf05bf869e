package job

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/controllers/gc"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// env runs the Job controller (with a short pod failure back-off) and the
// garbage collector on a real embedded etcd; the test stands in for the
// node agents, moving pods to Running, Succeeded or Failed.
type env struct{ *controllertest.Env }

func newEnv(t *testing.T) env {
	e := env{controllertest.New(t)}
	e.Start(func(d controller.Deps) []controller.Controller {
		return []controller.Controller{New(d, Config{PodFailureBackoff: 20 * time.Millisecond, MaxPodFailureBackoff: 100 * time.Millisecond}), gc.New(d)}
	})
	return e
}

// newJob is a Job of pods running /bin/work, changed by edit; not yet
// created.
func newJob(name string, edit ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "work", Command: []string{"/bin/work"}}},
		}}},
	}
	for _, f := range edit {
		f(j)
	}
	return j
}

func (e env) createJob(j *batchv1.Job) *batchv1.Job {
	e.T.Helper()
	return e.Create(registry.Jobs, j).(*batchv1.Job)
}

// job is the stored Job name.
func (e env) job(name string) *batchv1.Job {
	e.T.Helper()
	o, err := e.Reg.Store.Get(e.Ctx, registry.Jobs.Resource, "default", name)
	if err != nil {
		e.T.Fatalf("get job %s: %v", name, err)
	}
	return o.(*batchv1.Job)
}

// pods is the stored pods of Job name, by name.
func (e env) pods(name string) []*corev1.Pod {
	e.T.Helper()
	res, err := e.Reg.Store.List(e.Ctx, registry.Pods.Resource, "default", store.ListOptions{
		Predicate: store.Predicate{Label: labels.SelectorFromSet(labels.Set{batchv1.JobNameLabel: name})}})
	if err != nil {
		e.T.Fatal(err)
	}
	out := make([]*corev1.Pod, len(res.Items))
	for i, o := range res.Items {
		out[i] = o.(*corev1.Pod)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// running is the pods of Job name that have not ended and are not being
// deleted.
func (e env) running(name string) []*corev1.Pod {
	return slices.DeleteFunc(e.pods(name), func(p *corev1.Pod) bool { return !active(p) })
}

// waitRunning waits until Job name has n running pods and returns them.
func (e env) waitRunning(name string, n int) []*corev1.Pod {
	e.T.Helper()
	var pods []*corev1.Pod
	controllertest.Eventually(e.T, fmt.Sprintf("%d running pods of job %s", n, name), func() (bool, string) {
		pods = e.running(name)
		return len(pods) == n, podSummary(e.pods(name))
	})
	return pods
}

// finish ends a pod as its node agent would: phase Succeeded (exit code 0)
// or Failed with exit code code.
func (e env) finish(p *corev1.Pod, code int32) {
	e.T.Helper()
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	_, err := e.Reg.Update(e.Ctx, registry.Pods, p.Namespace, p.Name, "status", func(cur store.Object) (store.Object, error) {
		pod := cur.(*corev1.Pod)
		now := metav1.Now()
		pod.Status.Phase = phase
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "work", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: now}}}}
		pod.ResourceVersion = ""
		return pod, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.T.Fatalf("finish pod %s: %v", p.Name, err)
	}
}

// waitCondition waits for Job name to have condition t True, and returns
// the Job.
func (e env) waitCondition(name string, t batchv1.JobConditionType) *batchv1.Job {
	e.T.Helper()
	var j *batchv1.Job
	controllertest.Eventually(e.T, fmt.Sprintf("job %s %s", name, t), func() (bool, string) {
		j = e.job(name)
		return condition(j, t) != nil, fmt.Sprintf("status %+v; pods %s", j.Status, podSummary(e.pods(name)))
	})
	return j
}

func (e env) waitGone(info *registry.Info, name string) {
	e.T.Helper()
	controllertest.Eventually(e.T, fmt.Sprintf("%s %s deleted", info.Kind, name), func() (bool, string) {
		_, err := e.Reg.Store.Get(e.Ctx, info.Resource, "default", name)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

func podSummary(pods []*corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "%s(%s ix=%s fin=%v del=%v) ", p.Name, p.Status.Phase, p.Annotations[batchv1.JobCompletionIndexAnnotation],
			hasFinalizer(p), p.DeletionTimestamp != nil)
	}
	return b.String()
}
