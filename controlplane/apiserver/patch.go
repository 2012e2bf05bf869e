package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/shoalmesh/shoal/controlplane/store"
)

const (
	jsonPatchType      = "application/json-patch+json"
	mergePatchType     = "application/merge-patch+json"
	strategicPatchType = "application/strategic-merge-patch+json"
	applyPatchType     = "application/apply-patch+yaml"
)

// applyPatch applies a patch of patchType to the JSON of an object shaped
// like schema (strategic merge patches need the Go type for merge keys).
func applyPatch(patchType string, original, patch []byte, schema any) ([]byte, error) {
	switch patchType {
	case jsonPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid JSON patch: %v", err))
		}
		out, err := p.Apply(original)
		if err != nil {
			return nil, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity,
				Reason: metav1.StatusReasonInvalid, Message: fmt.Sprintf("the JSON patch could not be applied: %v", err)}}
		}
		return out, nil
	case mergePatchType:
		out, err := jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid merge patch: %v", err))
		}
		return out, nil
	case strategicPatchType:
		out, err := strategicpatch.StrategicMergePatch(original, patch, schema)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid strategic merge patch: %v", err))
		}
		return out, nil
	case applyPatchType:
		return nil, unsupportedMedia("server-side apply (application/apply-patch+yaml) is not supported by Shoal; use client-side `kubectl apply`")
	}
	return nil, unsupportedMedia(fmt.Sprintf("the patch type %q is not supported; use %s, %s or %s", patchType, jsonPatchType, mergePatchType, strategicPatchType))
}

func unsupportedMedia(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
		Reason: metav1.StatusReasonUnsupportedMediaType, Message: msg}}
}

func patchType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	wr, err := s.readWrite(r)
	if err != nil {
		writeError(w, err)
		return
	}
	pt := patchType(r)
	var warnings []string
	res, err := s.reg.Update(r.Context(), ri.Info, ri.Namespace, ri.Name, ri.Subresource, func(cur store.Object) (store.Object, error) {
		curRV := cur.GetResourceVersion()
		ext, err := external(ri, []store.Object{cur})
		if err != nil {
			return nil, err
		}
		original, err := json.Marshal(ext[0])
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(pt, original, wr.body, ri.wire().New())
		if err != nil {
			return nil, err
		}
		obj, w, err := decode(r, ri, patched, wr.validation)
		if err != nil {
			return nil, err
		}
		warnings = w
		// A patch that leaves resourceVersion alone applies to whatever is
		// current (and is retried on a race); one that sets it is a
		// precondition.
		if obj.GetResourceVersion() == curRV {
			obj.SetResourceVersion("")
		}
		return obj, s.checkEscalation(r, ri, obj, cur)
	}, wr.opts)
	if err != nil {
		writeError(w, err)
		return
	}
	addWarnings(w, append(warnings, res.Warnings...))
	s.writeObjects(w, r, ri, http.StatusOK, []store.Object{res.Object}, nil, true)
}
