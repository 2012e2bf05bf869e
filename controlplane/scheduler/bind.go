package scheduler

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// bind writes the binding of an assumed pod through the registry, as a POST
// to pods/{name}/binding would. On failure the assumption is dropped.
func (r *run) bind(ctx context.Context, pod *corev1.Pod, node string, start time.Time) {
	key := podKey(pod)
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	bound, err := r.cfg.Registry.Bind(ctx, b, registry.WriteOptions{})
	if err != nil {
		r.forget(key)
		if ctx.Err() != nil {
			return
		}
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Gone, being deleted, or bound by someone else: the pod cache
			// will say which; nothing to retry.
			r.queue.Forget(key)
			return
		}
		attempts.WithLabelValues(resultError).Inc()
		attemptSeconds.WithLabelValues(resultError).Observe(time.Since(start).Seconds())
		r.log.Info("bind failed; retrying", "pod", key, "node", node, "err", err)
		r.queue.AddRateLimited(key)
		return
	}
	r.queue.Forget(key)
	attempts.WithLabelValues(resultScheduled).Inc()
	attemptSeconds.WithLabelValues(resultScheduled).Observe(time.Since(start).Seconds())
	r.mu.Lock()
	if t, ok := r.firstSeen[key]; ok {
		podSeconds.Observe(time.Since(t).Seconds())
		delete(r.firstSeen, key)
	}
	delete(r.lastEvent, key)
	r.mu.Unlock()
	r.events.Eventf(bound, registry.Pods, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s to %s", key, node)
}

// forget drops an assumed placement whose binding failed; what it held is
// free again.
func (r *run) forget(key string) {
	r.mu.Lock()
	a, ok := r.assumed[key]
	if ok {
		r.use(a, -1)
		delete(r.assumed, key)
	}
	r.mu.Unlock()
	if ok {
		r.retryUnschedulable()
	}
}

// eventEvery is how often a pod that stays unschedulable for the same
// reason gets another FailedScheduling event (the recorder counts repeats).
const eventEvery = 30 * time.Second

// markUnschedulable sets the pod's PodScheduled condition to False with the
// reason it fits nowhere, and records a FailedScheduling event, as
// kube-scheduler does. A write that would change nothing is skipped.
func (r *run) markUnschedulable(ctx context.Context, pod *corev1.Pod, msg string, start time.Time) {
	key := podKey(pod)
	attempts.WithLabelValues(resultUnschedulable).Inc()
	defer func() { attemptSeconds.WithLabelValues(resultUnschedulable).Observe(time.Since(start).Seconds()) }()
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg}
	if !hasCondition(pod, cond) {
		_, err := r.cfg.Registry.Update(ctx, registry.Pods, pod.Namespace, pod.Name, "status", func(cur store.Object) (store.Object, error) {
			p := cur.(*corev1.Pod)
			if p.UID == pod.UID && p.Spec.NodeName == "" {
				registry.SetPodCondition(&p.Status, cond)
			}
			p.ResourceVersion = ""
			return p, nil
		}, registry.WriteOptions{})
		if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			r.log.Info("write unschedulable status", "pod", key, "err", err)
		}
	}
	r.mu.Lock()
	last, seen := r.lastEvent[key]
	_, stillPending := r.firstSeen[key]
	emit := stillPending && (!seen || last.msg != msg || time.Since(last.at) >= eventEvery)
	if emit {
		r.lastEvent[key] = eventMark{msg: msg, at: time.Now()}
	}
	r.mu.Unlock()
	if emit {
		r.events.Eventf(pod, registry.Pods, corev1.EventTypeWarning, "FailedScheduling", "%s", msg)
	}
}

func hasCondition(pod *corev1.Pod, want corev1.PodCondition) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == want.Type {
			return c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message
		}
	}
	return false
}
