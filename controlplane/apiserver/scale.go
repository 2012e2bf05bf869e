package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// scaleOf is the autoscaling/v1 Scale view of a Deployment or ReplicaSet.
func scaleOf(obj store.Object) (*autoscalingv1.Scale, error) {
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

func setReplicas(obj store.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	}
}

// serveScale serves {deployments,replicasets}/{name}/scale: `kubectl scale`
// PATCHes it with a merge patch and expects a Scale back.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Verb == "get" {
		obj, err := s.store.Get(r.Context(), ri.Info.Resource, ri.Namespace, ri.Name)
		if err == nil {
			var sc *autoscalingv1.Scale
			if sc, err = scaleOf(obj); err == nil {
				writeJSON(w, http.StatusOK, sc)
				return
			}
		}
		writeError(w, err)
		return
	}
	if ri.Verb != "update" && ri.Verb != "patch" {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), r.Method+" on scale"))
		return
	}
	opts, err := writeOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(r, s.maxBody)
	if err == nil && ri.Verb == "update" {
		// client-go's UpdateScale sends the Scale as protobuf.
		body, err = toJSON(r, body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.reg.Update(r.Context(), ri.Info, ri.Namespace, ri.Name, "", func(cur store.Object) (store.Object, error) {
		sc, err := scaleOf(cur)
		if err != nil {
			return nil, err
		}
		curRV := sc.ResourceVersion
		want := &autoscalingv1.Scale{}
		if ri.Verb == "patch" {
			original, _ := json.Marshal(sc)
			patched, err := applyPatch(patchType(r), original, body, &autoscalingv1.Scale{})
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(patched, want); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("the patched Scale could not be decoded: %v", err))
			}
		} else if err := json.Unmarshal(body, want); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as a Scale: %v", err))
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), ri.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		setReplicas(cur, want.Spec.Replicas)
		if want.ResourceVersion == "" || want.ResourceVersion == curRV {
			cur.SetResourceVersion("")
		} else {
			cur.SetResourceVersion(want.ResourceVersion)
		}
		return cur, nil
	}, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	sc, err := scaleOf(res.Object)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}
