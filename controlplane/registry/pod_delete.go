package registry

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// podGrace decides how a pod is deleted. As in Kubernetes, a pod that runs
// on a node is deleted gracefully: the delete sets deletionTimestamp (now
// plus the grace period) and its node agent stops it — not ready first, then
// SIGTERM, then SIGKILL — and deletes it for good with a grace period of 0.
// A pod on no node, a finished pod, or a delete asking for 0 seconds goes at
// once.
func podGrace(pod *corev1.Pod, requested *int64) (int64, bool) {
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0, false
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if requested != nil {
		grace = *requested
	}
	if grace <= 0 {
		return 0, false
	}
	// A second delete may shorten a grace period already running, never
	// lengthen it.
	if cur := pod.DeletionGracePeriodSeconds; pod.DeletionTimestamp != nil && cur != nil && *cur <= grace {
		grace = *cur
	}
	return grace, true
}

// deleteGracefully marks pod as terminating with grace seconds to stop.
func (r *Registry) deleteGracefully(ctx context.Context, pod *corev1.Pod, grace int64, pre *store.Preconditions) (store.Object, error) {
	if pre != nil && pre.UID != "" && types.UID(pre.UID) != pod.UID {
		return nil, apierrors.NewConflict(Pods.GroupResource(), pod.Name, errUIDPrecondition(pre.UID, string(pod.UID)))
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds == grace {
		return pod, nil
	}
	res, err := r.Update(ctx, Pods, pod.Namespace, pod.Name, "", func(o store.Object) (store.Object, error) {
		p := o.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, apierrors.NewConflict(Pods.GroupResource(), pod.Name, errUIDPrecondition(string(pod.UID), string(p.UID)))
		}
		at := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
		p.DeletionTimestamp = &at
		p.DeletionGracePeriodSeconds = &grace
		p.ResourceVersion = ""
		return p, nil
	}, WriteOptions{deleting: true})
	return res.Object, err
}

func errUIDPrecondition(want, got string) error {
	return fmt.Errorf("precondition failed: UID in precondition: %s, UID in object meta: %s", want, got)
}
