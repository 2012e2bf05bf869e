package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// completionIndexEnv is the variable that tells an Indexed Job's pod its
// index.
const completionIndexEnv = "JOB_COMPLETION_INDEX"

func hasFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}

// active reports whether a pod counts as running for its Job: not ended
// and not being deleted.
func active(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// terminating reports whether a pod is being deleted but has not ended.
func terminating(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// failed reports whether a pod counts as a failure: it failed, or (unless
// the Job replaces failed pods only) it is being deleted without having
// succeeded, which covers pods that never get to report an end.
func failed(p *corev1.Pod, j *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if j.Spec.PodFailurePolicy != nil || (j.Spec.PodReplacementPolicy != nil && *j.Spec.PodReplacementPolicy == batchv1.Failed) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// claimPods returns the pods the Job controls and selects, adopting the
// orphans it selects (with the tracking finalizer) and releasing those it
// controls but no longer selects.
func (c *Controller) claimPods(ctx context.Context, j *batchv1.Job, sel labels.Selector, w *controller.Writes) ([]*corev1.Pod, error) {
	var owned, orphans []*corev1.Pod
	for _, o := range c.pods.List(j.Namespace, store.Predicate{}) {
		pod := o.(*corev1.Pod)
		matches := sel.Matches(labels.Set(pod.Labels))
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref != nil && ref.UID == j.UID && matches:
			owned = append(owned, pod)
		case ref != nil && ref.UID == j.UID:
			if err := c.updatePod(ctx, pod, w, func(p *corev1.Pod) {
				p.OwnerReferences = controller.WithoutOwner(p.OwnerReferences, j.UID)
				p.Finalizers = withoutFinalizer(p.Finalizers)
			}); err != nil {
				return nil, fmt.Errorf("release pod %s from job %s: %w", pod.Name, j.Name, err)
			}
		case ref == nil && matches && pod.DeletionTimestamp == nil && j.DeletionTimestamp == nil:
			orphans = append(orphans, pod)
		}
	}
	if len(orphans) == 0 {
		return owned, nil
	}
	// A cache may show a Job that is already gone: check with etcd before
	// taking pods it would never run.
	fresh, err := c.reg.Store.Get(ctx, registry.Jobs.Resource, j.Namespace, j.Name)
	if apierrors.IsNotFound(err) || (err == nil && (fresh.GetUID() != j.UID || fresh.GetDeletionTimestamp() != nil)) {
		return owned, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recheck job %s before adopting: %w", controller.Key(j), err)
	}
	for _, pod := range orphans {
		var adopted *corev1.Pod
		err := c.updatePod(ctx, pod, w, func(p *corev1.Pod) {
			if metav1.GetControllerOfNoCopy(p) != nil || p.DeletionTimestamp != nil || !sel.Matches(labels.Set(p.Labels)) {
				return
			}
			p.OwnerReferences = append(p.OwnerReferences, *metav1.NewControllerRef(j, Kind))
			if !hasFinalizer(p) {
				p.Finalizers = append(p.Finalizers, batchv1.JobTrackingFinalizer)
			}
			adopted = p
		})
		if err != nil {
			return nil, fmt.Errorf("adopt pod %s into job %s: %w", pod.Name, j.Name, err)
		}
		if adopted != nil {
			owned = append(owned, adopted)
		}
	}
	return owned, nil
}

// updatePod applies edit to the current pod if it is still pod (by uid);
// a pod that is gone or replaced is no error.
func (c *Controller) updatePod(ctx context.Context, pod *corev1.Pod, w *controller.Writes, edit func(*corev1.Pod)) error {
	res, err := c.reg.Update(ctx, registry.Pods, pod.Namespace, pod.Name, "", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, controller.ErrClaimGone
		}
		edit(p)
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	if errors.Is(err, controller.ErrClaimGone) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	w.Wrote(c.pods, res.Object)
	return nil
}

func withoutFinalizer(f []string) []string {
	return slices.DeleteFunc(slices.Clone(f), func(s string) bool { return s == batchv1.JobTrackingFinalizer })
}

// removeFinalizers lets the pods go; it reports which it could.
func (c *Controller) removeFinalizers(ctx context.Context, pods []*corev1.Pod, w *controller.Writes) ([]bool, error) {
	done := make([]bool, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Go(func() {
			errs[i] = c.updatePod(ctx, pod, w, func(p *corev1.Pod) { p.Finalizers = withoutFinalizer(p.Finalizers) })
			done[i] = errs[i] == nil
		})
	}
	wg.Wait()
	return done, errors.Join(errs...)
}

// releaseOrphan removes the tracking finalizer of a pod whose Job is gone
// or finished, after checking with etcd that it is.
func (c *Controller) releaseOrphan(ctx context.Context, key string) error {
	ns, name := controller.SplitKey(key)
	obj, ok := c.pods.Get(ns, name)
	if !ok || !hasFinalizer(obj.(*corev1.Pod)) {
		return nil
	}
	pod := obj.(*corev1.Pod)
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && controller.IsKind(ref, Kind) {
		j, err := c.reg.Store.Get(ctx, registry.Jobs.Resource, ns, ref.Name)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("look up job %s of pod %s: %w", ref.Name, key, err)
		}
		if err == nil && j.GetUID() == ref.UID && !finished(j.(*batchv1.Job)) {
			return nil // its Job counts it
		}
	}
	var w controller.Writes
	_, err := c.removeFinalizers(ctx, []*corev1.Pod{pod}, &w)
	return errors.Join(err, w.Wait(ctx))
}

// createPods creates n pods of the Job, for the given indexes if it is
// Indexed, in batches that double while every create succeeds (as
// Kubernetes' slow start). It returns how many it created.
func (c *Controller) createPods(ctx context.Context, j *batchv1.Job, n int, indexes []int, w *controller.Writes) (int, error) {
	created := 0
	for batch := 1; n > 0; batch = min(2*batch, n) {
		batch = min(batch, n)
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			index := noIndex
			if len(indexes) > 0 {
				index, indexes = indexes[0], indexes[1:]
			}
			wg.Go(func() { errs[i] = c.createPod(ctx, j, index, w) })
		}
		wg.Wait()
		for _, err := range errs {
			if err == nil {
				created++
			}
		}
		if err := errors.Join(errs...); err != nil {
			return created, err
		}
		n -= batch
	}
	return created, nil
}

func (c *Controller) createPod(ctx context.Context, j *batchv1.Job, index int, w *controller.Writes) error {
	res, err := c.reg.Create(ctx, registry.Pods, podFromTemplate(j, index), registry.WriteOptions{})
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil // the namespace is going, and its Jobs with it
	}
	if err != nil {
		if ctx.Err() == nil {
			c.events.Eventf(j, registry.Jobs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("create pod for job %s: %w", controller.Key(j), err)
	}
	w.Wrote(c.pods, res.Object)
	c.events.Eventf(j, registry.Jobs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", res.Object.GetName())
	return nil
}

// podFromTemplate is a new pod of the Job: its template, the tracking
// finalizer, and for an Indexed Job the completion index (annotation,
// label, JOB_COMPLETION_INDEX from the label, hostname <job>-<index>), as
// Kubernetes' job controller makes them.
func podFromTemplate(j *batchv1.Job, index int) *corev1.Pod {
	t := j.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: j.Namespace, GenerateName: j.Name + "-",
			Labels: t.Labels, Annotations: t.Annotations,
			Finalizers:      append(t.Finalizers, batchv1.JobTrackingFinalizer),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(j, Kind)},
		},
		Spec: t.Spec,
	}
	if index == noIndex {
		return pod
	}
	ix := strconv.Itoa(index)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = ix
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = ix
	pod.GenerateName = podGenerateName(j.Name, index)
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = j.Name + "-" + ix
	}
	env := corev1.EnvVar{Name: completionIndexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		APIVersion: "v1", FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)}}}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !slices.ContainsFunc(cs[i].Env, func(e corev1.EnvVar) bool { return e.Name == completionIndexEnv }) {
				cs[i].Env = append(cs[i].Env, env)
			}
		}
	}
	return pod
}

// deletePods deletes pods of the Job. With release, it first removes
// their tracking finalizers so that they do not count as failures (a Job
// suspended, or with more pods than it needs); without, they keep them and
// are counted as they go (a Job that failed). It returns how many it
// deleted.
func (c *Controller) deletePods(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod, release bool, w *controller.Writes) (int32, error) {
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Go(func() {
			if release && hasFinalizer(pod) {
				if errs[i] = c.updatePod(ctx, pod, w, func(p *corev1.Pod) { p.Finalizers = withoutFinalizer(p.Finalizers) }); errs[i] != nil {
					return
				}
			}
			obj, err := c.reg.Delete(ctx, registry.Pods, pod.Namespace, pod.Name, &store.Preconditions{UID: string(pod.UID)}, registry.WriteOptions{})
			switch {
			case err == nil:
				// A pod with finalizers, or on a node, is only marked for
				// deletion: it stays in the cache for now.
				if obj != nil && obj.GetDeletionTimestamp() != nil {
					w.Wrote(c.pods, obj)
				} else {
					w.Deleted(c.pods, pod)
				}
				c.events.Eventf(j, registry.Jobs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			default:
				if ctx.Err() == nil {
					c.events.Eventf(j, registry.Jobs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				}
				errs[i] = fmt.Errorf("delete pod %s of job %s: %w", pod.Name, j.Name, err)
			}
		})
	}
	wg.Wait()
	var n int32
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n, errors.Join(errs...)
}
