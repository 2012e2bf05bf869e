package registry

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// ServedVersion is a version the API serves a resource at besides the one
// it stores (Stored.GroupVersion, the preferred version in discovery), as
// Kubernetes serves HorizontalPodAutoscalers at autoscaling/v1 and v2:
// requests of this version are converted to the stored one on the way in
// and back on the way out.
type ServedVersion struct {
	Stored       *Info
	GroupVersion schema.GroupVersion
	// New returns an empty object of this version.
	New func() store.Object
	// ToStored converts an object of this version to the stored version;
	// FromStored converts back.
	ToStored   func(store.Object) (store.Object, error)
	FromStored func(store.Object) (store.Object, error)
}

// GroupVersionKind of the version's objects.
func (v *ServedVersion) GroupVersionKind() schema.GroupVersionKind {
	return v.GroupVersion.WithKind(v.Stored.Kind)
}

// ServedVersions lists every resource version served besides the stored
// ones.
var ServedVersions = []*ServedVersion{{
	Stored:       HorizontalPodAutoscalers,
	GroupVersion: autoscalingv1.SchemeGroupVersion,
	New:          func() store.Object { return &autoscalingv1.HorizontalPodAutoscaler{} },
	ToStored: func(o store.Object) (store.Object, error) {
		h, err := hpaFromV1(o.(*autoscalingv1.HorizontalPodAutoscaler))
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return h, nil
	},
	FromStored: func(o store.Object) (store.Object, error) {
		h, err := hpaToV1(o.(*autoscalingv2.HorizontalPodAutoscaler))
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		return h, nil
	},
}}

// ServedVersionOf returns the other version resource (a plural name) is
// served at in group/version, or nil.
func ServedVersionOf(group, version, resource string) *ServedVersion {
	for _, v := range ServedVersions {
		if v.GroupVersion.Group == group && v.GroupVersion.Version == version && v.Stored.Name == resource {
			return v
		}
	}
	return nil
}
