package registry

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// Bind assigns a pod to a node, as a POST of a Binding to pods/{name}/binding
// does (and kube-scheduler's binder): spec.nodeName is set in one
// compare-and-swap with a PodScheduled=True condition, and the Binding's
// annotations are copied onto the pod. A pod already bound, or being
// deleted, is a 409 Conflict; a pod that is gone is a 404. Like Kubernetes,
// Bind does not require the node to exist: the scheduler checked it, and the
// node lifecycle controller deals with pods on nodes that went away.
func (r *Registry) Bind(ctx context.Context, b *corev1.Binding, opts WriteOptions) (*corev1.Pod, error) {
	if errs := validateBinding(b); len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), b.Name, errs)
	}
	for attempt := 0; ; attempt++ {
		cur, err := r.Store.Get(ctx, Pods.Resource, b.Namespace, b.Name)
		if err != nil {
			return nil, err
		}
		pod := cur.DeepCopyObject().(*corev1.Pod)
		switch {
		case b.UID != "" && b.UID != pod.UID:
			return nil, apierrors.NewConflict(Pods.GroupResource(), b.Name,
				fmt.Errorf("precondition failed: UID in precondition: %s, UID in object meta: %s", b.UID, pod.UID))
		case pod.DeletionTimestamp != nil:
			return nil, apierrors.NewConflict(Pods.GroupResource(), b.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", b.Name))
		case pod.Spec.NodeName != "":
			return nil, apierrors.NewConflict(Pods.GroupResource(), b.Name, fmt.Errorf("pod %s is already assigned to node %q", b.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		SetPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
		if opts.DryRun {
			return pod, nil
		}
		out, err := r.Store.Update(ctx, Pods.Resource, pod, store.Txn{})
		if apierrors.IsConflict(err) && attempt < 16 && ctx.Err() == nil {
			continue // another write (a status update) came first: look again
		}
		if err != nil {
			return nil, err
		}
		return out.(*corev1.Pod), nil
	}
}

func validateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	if b.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), ""))
	}
	if b.Namespace == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "namespace"), ""))
	}
	path := field.NewPath("target")
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(path.Child("kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	} else {
		errs = append(errs, validateDNS1123Subdomain(b.Target.Name, path.Child("name"))...)
	}
	return errs
}

// SetPodCondition sets cond in status, replacing the condition of its type.
// The transition time moves only when the condition's status changes, as
// Kubernetes keeps it. It reports whether anything changed.
func SetPodCondition(status *corev1.PodStatus, cond corev1.PodCondition) bool {
	now := metav1.Now()
	cond.LastProbeTime = metav1.Time{}
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if c.Type != cond.Type {
			continue
		}
		if c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message {
			return false
		}
		if c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime
		} else {
			cond.LastTransitionTime = now
		}
		*c = cond
		return true
	}
	cond.LastTransitionTime = now
	status.Conditions = append(status.Conditions, cond)
	return true
}
