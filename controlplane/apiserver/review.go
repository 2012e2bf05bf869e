package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// The review APIs: questions put to the authenticator and the authorizer,
// answered and not stored. `kubectl auth whoami` sends a SelfSubjectReview,
// `kubectl auth can-i` a SelfSubjectAccessReview (or, with --list, a
// SelfSubjectRulesReview); SubjectAccessReview and LocalSubjectAccessReview
// ask about another user. Who may create which is RBAC's to say, as in
// Kubernetes: system:basic-user lets every user ask about themselves.
const (
	selfAccessReviews  = "selfsubjectaccessreviews"
	selfRulesReviews   = "selfsubjectrulesreviews"
	accessReviews      = "subjectaccessreviews"
	localAccessReviews = "localsubjectaccessreviews"
	selfReviews        = "selfsubjectreviews"
)

// isReview reports whether ri names a review API.
func isReview(ri requestInfo) bool {
	return reviewResource(ri.Group, ri.Resource) != nil
}

func reviewResource(group, resource string) *metav1.APIResource {
	for _, r := range reviewResources(group) {
		if r.Name == resource {
			return &r
		}
	}
	return nil
}

// reviewResources are the discovery entries of a review group.
func reviewResources(group string) []metav1.APIResource {
	create := metav1.Verbs{"create"}
	switch group {
	case authzv1.GroupName:
		return []metav1.APIResource{
			{Name: localAccessReviews, SingularName: "localsubjectaccessreview", Namespaced: true, Kind: "LocalSubjectAccessReview", Verbs: create},
			{Name: selfAccessReviews, SingularName: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview", Verbs: create},
			{Name: selfRulesReviews, SingularName: "selfsubjectrulesreview", Kind: "SelfSubjectRulesReview", Verbs: create},
			{Name: accessReviews, SingularName: "subjectaccessreview", Kind: "SubjectAccessReview", Verbs: create},
		}
	case authnv1.GroupName:
		return []metav1.APIResource{{Name: selfReviews, SingularName: "selfsubjectreview", Kind: "SelfSubjectReview", Verbs: create}}
	}
	return nil
}

// serveReview answers a review created by user (already authorized to).
func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, ri requestInfo, user *auth.User) {
	res := reviewResource(ri.Group, ri.Resource)
	if ri.Version != "v1" || ri.Subresource != "" || ri.Name != "" || res.Namespaced != (ri.Namespace != "") {
		writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Name))
		return
	}
	if ri.Verb != "create" {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), r.Method))
		return
	}
	body, err := readBody(r, s.maxBody)
	if err == nil {
		body, err = toJSON(r, body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	gvk := schema.GroupVersionKind{Group: ri.Group, Version: "v1", Kind: res.Kind}
	var out any
	switch ri.Resource {
	case selfReviews:
		out, err = s.selfReview(body, user)
	case selfAccessReviews:
		out, err = s.selfAccessReview(body, gvk, user)
	case selfRulesReviews:
		out, err = s.selfRulesReview(body, user)
	case accessReviews:
		out, err = s.accessReview(body, gvk)
	case localAccessReviews:
		out, err = s.localAccessReview(body, gvk, ri.Namespace)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func decodeReview(body []byte, into any, kind string) error {
	if err := json.Unmarshal(body, into); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as a %s: %v", kind, err))
	}
	return nil
}

func typeMeta(gvk schema.GroupVersionKind) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}
}

// selfReview is `kubectl auth whoami`: the user as the API server sees it,
// after impersonation.
func (s *Server) selfReview(body []byte, user *auth.User) (any, error) {
	review := &authnv1.SelfSubjectReview{}
	if err := decodeReview(body, review, "SelfSubjectReview"); err != nil {
		return nil, err
	}
	review.TypeMeta = metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"}
	info := authnv1.UserInfo{Username: user.Name, UID: user.UID, Groups: user.Groups}
	if len(user.Extra) > 0 {
		info.Extra = map[string]authnv1.ExtraValue{}
		for k, v := range user.Extra {
			info.Extra[k] = v
		}
	}
	review.Status = authnv1.SelfSubjectReviewStatus{UserInfo: info}
	return review, nil
}

func (s *Server) selfAccessReview(body []byte, gvk schema.GroupVersionKind, user *auth.User) (any, error) {
	review := &authzv1.SelfSubjectAccessReview{}
	if err := decodeReview(body, review, gvk.Kind); err != nil {
		return nil, err
	}
	spec := field.NewPath("spec")
	if errs := validateAccessAttributes(review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes, spec); len(errs) > 0 {
		return nil, apierrors.NewInvalid(gvk.GroupKind(), "", errs)
	}
	review.TypeMeta = typeMeta(gvk)
	review.Status = s.decide(user, review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
	return review, nil
}

func (s *Server) accessReview(body []byte, gvk schema.GroupVersionKind) (any, error) {
	review := &authzv1.SubjectAccessReview{}
	if err := decodeReview(body, review, gvk.Kind); err != nil {
		return nil, err
	}
	if errs := validateAccessReviewSpec(&review.Spec); len(errs) > 0 {
		return nil, apierrors.NewInvalid(gvk.GroupKind(), "", errs)
	}
	review.TypeMeta = typeMeta(gvk)
	review.Status = s.decide(subjectOf(&review.Spec), review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
	return review, nil
}

func (s *Server) localAccessReview(body []byte, gvk schema.GroupVersionKind, namespace string) (any, error) {
	review := &authzv1.LocalSubjectAccessReview{}
	if err := decodeReview(body, review, gvk.Kind); err != nil {
		return nil, err
	}
	switch review.Namespace {
	case "":
		review.Namespace = namespace
	case namespace:
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", review.Namespace, namespace))
	}
	errs := validateAccessReviewSpec(&review.Spec)
	if ra := review.Spec.ResourceAttributes; ra != nil && ra.Namespace != review.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("spec.resourceAttributes.namespace"), ra.Namespace, "must match metadata.namespace"))
	}
	if review.Spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(field.NewPath("spec.nonResourceAttributes"), review.Spec.NonResourceAttributes, "disallowed on this kind of request"))
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(gvk.GroupKind(), "", errs)
	}
	review.TypeMeta = typeMeta(gvk)
	review.Status = s.decide(subjectOf(&review.Spec), review.Spec.ResourceAttributes, nil)
	return review, nil
}

// selfRulesReview is `kubectl auth can-i --list`: every rule that applies
// to user in the namespace asked about.
func (s *Server) selfRulesReview(body []byte, user *auth.User) (any, error) {
	review := &authzv1.SelfSubjectRulesReview{}
	if err := decodeReview(body, review, "SelfSubjectRulesReview"); err != nil {
		return nil, err
	}
	if review.Spec.Namespace == "" {
		return nil, apierrors.NewBadRequest("no namespace on request")
	}
	rules, incomplete, err := s.authz.RulesFor(user, review.Spec.Namespace)
	status := authzv1.SubjectRulesReviewStatus{
		ResourceRules: []authzv1.ResourceRule{}, NonResourceRules: []authzv1.NonResourceRule{}, Incomplete: incomplete,
	}
	for _, r := range rules {
		if len(r.Resources) > 0 {
			status.ResourceRules = append(status.ResourceRules, authzv1.ResourceRule{
				Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
		}
		if len(r.NonResourceURLs) > 0 {
			status.NonResourceRules = append(status.NonResourceRules, authzv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
		}
	}
	if err != nil {
		status.EvaluationError = err.Error()
	}
	review.TypeMeta = metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectRulesReview"}
	review.Status = status
	return review, nil
}

// decide answers an access review for u.
func (s *Server) decide(u *auth.User, ra *authzv1.ResourceAttributes, nra *authzv1.NonResourceAttributes) authzv1.SubjectAccessReviewStatus {
	a := auth.Attributes{User: u}
	if ra != nil {
		a.Verb, a.Namespace, a.APIGroup, a.Resource, a.Subresource, a.Name = ra.Verb, ra.Namespace, ra.Group, ra.Resource, ra.Subresource, ra.Name
	} else {
		a.Verb, a.NonResourcePath = nra.Verb, nra.Path
	}
	d := s.authz.Authorize(a)
	return authzv1.SubjectAccessReviewStatus{Allowed: d.Allowed, Reason: d.Reason}
}

// subjectOf is the user a SubjectAccessReview asks about: exactly as given
// (no system:authenticated is added, as Kubernetes adds none).
func subjectOf(spec *authzv1.SubjectAccessReviewSpec) *auth.User {
	u := &auth.User{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if len(spec.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range spec.Extra {
			u.Extra[k] = v
		}
	}
	return u
}

func validateAccessAttributes(ra *authzv1.ResourceAttributes, nra *authzv1.NonResourceAttributes, spec *field.Path) field.ErrorList {
	switch {
	case ra != nil && nra != nil:
		return field.ErrorList{field.Invalid(spec.Child("nonResourceAttributes"), nra, "cannot be specified in combination with resourceAttributes")}
	case ra == nil && nra == nil:
		return field.ErrorList{field.Invalid(spec.Child("resourceAttributes"), nra, "exactly one of nonResourceAttributes or resourceAttributes must be specified")}
	}
	return nil
}

func validateAccessReviewSpec(s *authzv1.SubjectAccessReviewSpec) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateAccessAttributes(s.ResourceAttributes, s.NonResourceAttributes, spec)
	if s.User == "" && len(s.Groups) == 0 {
		errs = append(errs, field.Invalid(spec.Child("user"), s.User, "at least one of user or group must be specified"))
	}
	return errs
}
