package replicaset

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// ownedPods is the cached pods rs controls and still selects.
func (c *Controller) ownedPods(rs *appsv1.ReplicaSet, sel labels.Selector) []*corev1.Pod {
	var out []*corev1.Pod
	for _, o := range c.pods.List(rs.Namespace, store.Predicate{}) {
		pod := o.(*corev1.Pod)
		if ref := metav1.GetControllerOfNoCopy(pod); ref != nil && ref.UID == rs.UID && sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, pod)
		}
	}
	return out
}

// claimPods returns the pods rs controls and selects, after adopting the
// orphans it selects and releasing the pods it controls but no longer
// selects, as Kubernetes' PodControllerRefManager does.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, w *controller.Writes) ([]*corev1.Pod, error) {
	var owned, orphans []*corev1.Pod
	for _, o := range c.pods.List(rs.Namespace, store.Predicate{}) {
		pod := o.(*corev1.Pod)
		matches := sel.Matches(labels.Set(pod.Labels))
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref != nil && ref.UID == rs.UID && matches:
			owned = append(owned, pod)
		case ref != nil && ref.UID == rs.UID:
			if rs.DeletionTimestamp == nil {
				if err := c.release(ctx, rs, pod, w); err != nil {
					return nil, err
				}
			}
		case ref == nil && matches && pod.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			orphans = append(orphans, pod)
		}
	}
	if len(orphans) == 0 {
		return owned, nil
	}
	// A cache may show a ReplicaSet that is already gone or going: check
	// with etcd before taking pods it would never manage.
	fresh, err := c.reg.Store.Get(ctx, registry.ReplicaSets.Resource, rs.Namespace, rs.Name)
	if apierrors.IsNotFound(err) {
		return owned, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recheck replica set %s before adopting: %w", controller.Key(rs), err)
	}
	if fresh.GetUID() != rs.UID || fresh.GetDeletionTimestamp() != nil {
		return owned, nil
	}
	for _, pod := range orphans {
		adopted, err := c.adopt(ctx, rs, sel, pod, w)
		if err != nil {
			return nil, err
		}
		if adopted != nil {
			owned = append(owned, adopted)
		}
	}
	return owned, nil
}

func (c *Controller) adopt(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, pod *corev1.Pod, w *controller.Writes) (*corev1.Pod, error) {
	res, err := c.reg.Update(ctx, registry.Pods, pod.Namespace, pod.Name, "", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID || metav1.GetControllerOfNoCopy(p) != nil || p.DeletionTimestamp != nil || !sel.Matches(labels.Set(p.Labels)) {
			return nil, controller.ErrClaimGone
		}
		p.OwnerReferences = append(p.OwnerReferences, *metav1.NewControllerRef(rs, Kind))
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	if errors.Is(err, controller.ErrClaimGone) || apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("adopt pod %s into replica set %s: %w", controller.Key(pod), rs.Name, err)
	}
	w.Wrote(c.pods, res.Object)
	return res.Object.(*corev1.Pod), nil
}

func (c *Controller) release(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod, w *controller.Writes) error {
	res, err := c.reg.Update(ctx, registry.Pods, pod.Namespace, pod.Name, "", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, controller.ErrClaimGone
		}
		p.OwnerReferences = controller.WithoutOwner(p.OwnerReferences, rs.UID)
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	if errors.Is(err, controller.ErrClaimGone) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release pod %s from replica set %s: %w", controller.Key(pod), rs.Name, err)
	}
	w.Wrote(c.pods, res.Object)
	return nil
}
