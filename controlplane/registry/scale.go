package registry

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// The scale subresource, as `kubectl scale` and the HorizontalPodAutoscaler
// controller see a Deployment or ReplicaSet: an autoscaling/v1 Scale.

// ScaleOf is the autoscaling/v1 Scale view of obj, which must be of a kind
// with the scale subresource.
func ScaleOf(obj store.Object) (*autoscalingv1.Scale, error) {
	var spec int32 = 1
	var status int32
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		if o.Spec.Replicas != nil {
			spec = *o.Spec.Replicas
		}
		status, sel = o.Status.Replicas, o.Spec.Selector
	case *appsv1.ReplicaSet:
		if o.Spec.Replicas != nil {
			spec = *o.Spec.Replicas
		}
		status, sel = o.Status.Replicas, o.Spec.Selector
	default:
		return nil, fmt.Errorf("%T has no scale subresource", obj)
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(),
			ResourceVersion: obj.GetResourceVersion(), CreationTimestamp: obj.GetCreationTimestamp()},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector.String()},
	}, nil
}

// SetScaleReplicas sets the replicas obj asks for (its spec.replicas).
func SetScaleReplicas(obj store.Object, n int32) error {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	default:
		return fmt.Errorf("%T has no scale subresource", obj)
	}
	return nil
}

// ScaleTarget returns the served resource with a scale subresource that an
// object reference (a HorizontalPodAutoscaler's scaleTargetRef) names by
// apiVersion and kind; the version does not matter, as in Kubernetes' REST
// mapping of a group and kind.
func ScaleTarget(apiVersion, kind string) (*Info, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, fmt.Errorf("invalid API version %q: %w", apiVersion, err)
	}
	for _, info := range All {
		if info.GroupVersion.Group == gv.Group && info.Kind == kind {
			if !info.Scale {
				return nil, fmt.Errorf("%s %s has no scale subresource", apiVersion, kind)
			}
			return info, nil
		}
	}
	return nil, fmt.Errorf("no matches for kind %q in group %q", kind, gv.Group)
}
