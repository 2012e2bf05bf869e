package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// podsOn is every pod bound to node, from the cache (read only).
func (c *Controller) podsOn(node string) []*corev1.Pod {
	objs := c.pods.List("", store.Predicate{Field: fields.OneTermEqualSelector("spec.nodeName", node)})
	out := make([]*corev1.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*corev1.Pod)
	}
	return out
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// parallelWrites bounds the pod writes markPodsNotReady makes at a time.
const parallelWrites = 8

// markPodsNotReady marks pods not ready, several writes at a time: one at a
// time, the last pod of a node with many would stay in the endpoints for
// the sum of all the writes.
func (c *Controller) markPodsNotReady(ctx context.Context, pods []*corev1.Pod) error {
	errs := make([]error, len(pods))
	sem := make(chan struct{}, parallelWrites)
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = c.markPodNotReady(ctx, p)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// markPodNotReady sets Ready and ContainersReady to False on a running pod
// of an unreachable node: whatever its agent last said, nobody can tell now.
func (c *Controller) markPodNotReady(ctx context.Context, pod *corev1.Pod) error {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed ||
		(podCondition(pod, corev1.PodReady) == corev1.ConditionFalse && podCondition(pod, corev1.ContainersReady) == corev1.ConditionFalse) {
		return nil
	}
	msg := fmt.Sprintf("node %s is not ready", pod.Spec.NodeName)
	_, err := c.reg.Update(ctx, registry.Pods, pod.Namespace, pod.Name, "status", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID == pod.UID && p.Spec.NodeName == pod.Spec.NodeName {
			for _, t := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
				registry.SetPodCondition(&p.Status, corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: "NodeNotReady", Message: msg})
			}
		}
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	if err != nil {
		return ignoreNotFound(err)
	}
	c.events.Eventf(pod, registry.Pods, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	return nil
}

// evictionDelay is how long pod stays on an unreachable node: the shortest
// tolerationSeconds of its tolerations of the unreachable taint, or def if
// it has none; evict is false when it tolerates the taint for ever.
func evictionDelay(pod *corev1.Pod, def time.Duration) (delay time.Duration, evict bool) {
	tolerated, minSeconds := false, int64(-1)
	for i := range pod.Spec.Tolerations {
		t := &pod.Spec.Tolerations[i]
		if !t.ToleratesTaint(logr.Discard(), &unreachableTaint, true) {
			continue
		}
		tolerated = true
		if t.TolerationSeconds != nil && (minSeconds < 0 || *t.TolerationSeconds < minSeconds) {
			minSeconds = max(*t.TolerationSeconds, 0)
		}
	}
	switch {
	case !tolerated:
		return def, true
	case minSeconds < 0:
		return 0, false
	default:
		return time.Duration(minSeconds) * time.Second, true
	}
}

// deletePod deletes a pod (that exact pod, not a successor of its name).
func (c *Controller) deletePod(ctx context.Context, pod *corev1.Pod, why string) error {
	// At once: the node's agent, which would finish a graceful deletion,
	// is unreachable.
	force := int64(0)
	_, err := c.reg.Delete(ctx, registry.Pods, pod.Namespace, pod.Name, &store.Preconditions{UID: string(pod.UID)}, registry.WriteOptions{GracePeriodSeconds: &force})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone already, or replaced under its name
	}
	if err != nil {
		return err
	}
	c.log.Info("deleted pod of a lost node", "pod", controller.Key(pod), "node", pod.Spec.NodeName)
	c.events.Eventf(pod, registry.Pods, corev1.EventTypeNormal, "TaintManagerEviction", "%s", why)
	return nil
}

// syncOrphans deletes, after the eviction delay, the pods bound to a node
// that does not exist (deleted, or never created).
func (c *Controller) syncOrphans(ctx context.Context, q *controller.Queue, node string, now time.Time) error {
	pods := c.podsOn(node)
	c.mu.Lock()
	if len(pods) == 0 {
		delete(c.beats, node)
		c.mu.Unlock()
		return nil
	}
	hb := c.beat(node)
	if hb.absent.IsZero() {
		hb.absent = now
	}
	since := hb.absent
	c.mu.Unlock()
	if wait := since.Add(c.evict).Sub(now); wait > 0 {
		q.AddAfter(node, wait+10*time.Millisecond)
		return nil
	}
	for _, p := range pods {
		if err := c.deletePod(ctx, p, fmt.Sprintf("Deleting pod: its node %s does not exist", node)); err != nil {
			return err
		}
	}
	return nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
