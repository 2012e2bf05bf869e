package apiserver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// apply serves a PATCH of application/apply-patch+yaml: server-side apply,
// done by the registry (registry.Apply) as kube-apiserver's field manager
// does it.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Subresource != "" && ri.Subresource != "status" {
		writeError(w, unsupportedMedia(fmt.Sprintf("server-side apply of %s/%s is not supported; apply to the %s themselves", ri.Resource, ri.Subresource, ri.Resource)))
		return
	}
	wr, err := s.readWrite(r)
	if err != nil {
		writeError(w, err)
		return
	}
	force, err := patchOptions(r, types.ApplyYAMLPatchType)
	if err != nil {
		writeError(w, err)
		return
	}
	patch := &unstructured.Unstructured{Object: map[string]any{}}
	if err := yaml.Unmarshal(wr.body, &patch.Object); err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err)))
		return
	}
	var warnings []string
	if wr.validation != "Ignore" {
		if err := yaml.UnmarshalStrict(wr.body, &map[string]any{}); err != nil {
			if wr.validation == "Strict" {
				writeError(w, apierrors.NewBadRequest(fmt.Sprintf("error strict decoding YAML: %v", err)))
				return
			}
			warnings = append(warnings, err.Error())
		}
	}
	gv := ri.wire().GroupVersion
	if err := checkApplied(patch, gv, ri); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.reg.Apply(r.Context(), registry.ApplyRequest{
		Info: ri.Info, GroupVersion: gv, Namespace: ri.Namespace, Name: ri.Name, Subresource: ri.Subresource,
		Patch: patch, Manager: r.URL.Query().Get("fieldManager"), Force: force,
	}, wr.opts)
	if err != nil {
		writeError(w, err)
		return
	}
	addWarnings(w, append(warnings, res.Warnings...))
	s.writeObjects(w, r, ri, http.StatusOK, []store.Object{res.Object}, nil, true)
}

// checkApplied checks that an applied configuration names the object of the
// path: its apiVersion, kind, name and namespace.
func checkApplied(patch *unstructured.Unstructured, gv schema.GroupVersion, ri requestInfo) error {
	if got := patch.GetAPIVersion(); got != gv.String() || patch.GetKind() != ri.Info.Kind {
		return apierrors.NewBadRequest(fmt.Sprintf("the applied configuration is a %s %s, but this is the endpoint of %s %s",
			orMissing(got), orMissing(patch.GetKind()), gv, ri.Info.Kind))
	}
	if patch.GetName() != ri.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", orMissing(patch.GetName()), ri.Name))
	}
	if ns := patch.GetNamespace(); ns != "" && ns != ri.Namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", ns, ri.Namespace))
	}
	return nil
}

func orMissing(s string) string {
	if s == "" {
		return "<missing>"
	}
	return s
}

// patchOptions checks a PATCH's options as Kubernetes does
// (ValidatePatchOptions: an apply names its field manager; force is for
// apply only) and returns force.
func patchOptions(r *http.Request, pt types.PatchType) (bool, error) {
	q := r.URL.Query()
	opts := &metav1.PatchOptions{FieldManager: q.Get("fieldManager"), DryRun: q["dryRun"], FieldValidation: q.Get("fieldValidation")}
	if f := q.Get("force"); f != "" {
		b, err := strconv.ParseBool(f)
		if err != nil {
			return false, apierrors.NewBadRequest(fmt.Sprintf("force: Invalid value: %q: must be true or false", f))
		}
		opts.Force = &b
	}
	if errs := metav1validation.ValidatePatchOptions(opts, pt); len(errs) > 0 {
		return false, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", errs)
	}
	return opts.Force != nil && *opts.Force, nil
}

// fieldManager is the manager a write is recorded under: its fieldManager,
// or else the first part of its User-Agent ("kubectl", "shoal"), as
// kube-apiserver names it.
func fieldManager(r *http.Request) (string, error) {
	m := r.URL.Query().Get("fieldManager")
	if errs := metav1validation.ValidateFieldManager(m, field.NewPath("fieldManager")); len(errs) > 0 {
		return "", apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "UpdateOptions"}, "", errs)
	}
	if m != "" {
		return m, nil
	}
	ua, _, _ := strings.Cut(r.UserAgent(), "/")
	var b strings.Builder
	for _, c := range ua {
		if b.Len() >= metav1validation.FieldManagerMaxLength {
			break
		}
		if unicode.IsPrint(c) {
			b.WriteRune(c)
		}
	}
	return b.String(), nil
}
