package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// serveScale serves {deployments,replicasets}/{name}/scale: `kubectl scale`
// PATCHes it with a merge patch and expects a Scale back.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Verb == "get" {
		obj, err := s.store.Get(r.Context(), ri.Info.Resource, ri.Namespace, ri.Name)
		if err == nil {
			var sc *autoscalingv1.Scale
			if sc, err = registry.ScaleOf(obj); err == nil {
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
		sc, err := registry.ScaleOf(cur)
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
		if err := registry.SetScaleReplicas(cur, want.Spec.Replicas); err != nil {
			return nil, err
		}
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
	sc, err := registry.ScaleOf(res.Object)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}
