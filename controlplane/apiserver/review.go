package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// Self reviews let any authenticated user ask who they are (`kubectl auth
// whoami`) and what they may do (`kubectl auth can-i`), as Kubernetes'
// system:basic-user role allows everyone.
const (
	accessReviews = "selfsubjectaccessreviews"
	subjectReview = "selfsubjectreviews"
)

// isSelfReview reports whether ri is a POST of a self review.
func isSelfReview(ri requestInfo) bool {
	return ri.Verb == "create" && ri.Version == "v1" && ri.Name == "" &&
		((ri.Group == authzv1.GroupName && ri.Resource == accessReviews) ||
			(ri.Group == authnv1.GroupName && ri.Resource == subjectReview))
}

func (s *Server) serveSelfReview(w http.ResponseWriter, r *http.Request, ri requestInfo, user *auth.User) {
	body, err := readBody(r, s.maxBody)
	if err == nil {
		body, err = toJSON(r, body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if ri.Resource == subjectReview {
		writeJSON(w, http.StatusCreated, &authnv1.SelfSubjectReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"},
			Status: authnv1.SelfSubjectReviewStatus{UserInfo: authnv1.UserInfo{
				Username: user.Name, UID: user.UID, Groups: withAuthenticated(user.Groups)}},
		})
		return
	}
	review := &authzv1.SelfSubjectAccessReview{}
	if err := json.Unmarshal(body, review); err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as a SelfSubjectAccessReview: %v", err)))
		return
	}
	attrs := auth.Attributes{User: user}
	switch spec := review.Spec; {
	case spec.ResourceAttributes != nil:
		ra := spec.ResourceAttributes
		attrs.Verb, attrs.Namespace, attrs.APIGroup, attrs.Resource, attrs.Subresource, attrs.Name =
			ra.Verb, ra.Namespace, ra.Group, ra.Resource, ra.Subresource, ra.Name
	case spec.NonResourceAttributes != nil:
		attrs.Verb, attrs.NonResourcePath = spec.NonResourceAttributes.Verb, spec.NonResourceAttributes.Path
	default:
		writeError(w, apierrors.NewBadRequest("spec: exactly one of resourceAttributes or nonResourceAttributes must be set"))
		return
	}
	allowed, reason := auth.Authorize(attrs)
	review.TypeMeta = metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SelfSubjectAccessReview"}
	review.Status = authzv1.SubjectAccessReviewStatus{Allowed: allowed, Reason: reason}
	writeJSON(w, http.StatusCreated, review)
}

// reviewGroups are the discovery entries of the self-review APIs.
func reviewResources(group string) []metav1.APIResource {
	switch group {
	case authzv1.GroupName:
		return []metav1.APIResource{{Name: accessReviews, SingularName: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview", Verbs: metav1.Verbs{"create"}}}
	case authnv1.GroupName:
		return []metav1.APIResource{{Name: subjectReview, SingularName: "selfsubjectreview", Kind: "SelfSubjectReview", Verbs: metav1.Verbs{"create"}}}
	}
	return nil
}

// withAuthenticated is groups with system:authenticated, which every
// authenticated user is in, first unless groups have it already (service
// account users do).
func withAuthenticated(groups []string) []string {
	if slices.Contains(groups, "system:authenticated") {
		return groups
	}
	return append([]string{"system:authenticated"}, groups...)
}
