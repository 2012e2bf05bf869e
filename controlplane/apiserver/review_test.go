package apiserver_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// asToken is a clientset with another bearer token.
func (a *api) asToken(token string) *kubernetes.Clientset {
	a.t.Helper()
	cfg := rest.CopyConfig(a.shoal.RESTConfig(a.t))
	cfg.BearerToken = token
	return clientset(a.t, cfg)
}

// can asks whether cs may verb resource (as kubectl names it: "pods",
// "roles.rbac.authorization.k8s.io") in namespace: a SelfSubjectAccessReview.
func can(t *testing.T, cs kubernetes.Interface, verb, resource, namespace string) authzv1.SubjectAccessReviewStatus {
	t.Helper()
	resource, group, _ := strings.Cut(resource, ".")
	r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: namespace, Verb: verb, Group: group, Resource: resource}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("can-i %s %s: %v", verb, resource, err)
	}
	return r.Status
}

// kubectl auth whoami, can-i and can-i --list answer for every user, from
// RBAC.
func TestSelfReviews(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	viewer := a.asToken(a.viewer)

	who, err := viewer.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("whoami as viewer: %v", err)
	}
	if u := who.Status.UserInfo; u.Username != "viewer" || !slices.Equal(u.Groups, []string{"shoal:viewers", "system:authenticated"}) || u.UID == "" {
		t.Errorf("whoami = %+v, want viewer in shoal:viewers and system:authenticated, with its uid", u)
	}

	for _, tt := range []struct {
		name   string
		cs     kubernetes.Interface
		verb   string
		allow  bool
		reason string
	}{
		{"admin create", a.cs, "create", true, ""},
		{"viewer list", viewer, "list", true, `RBAC: allowed by ClusterRoleBinding "shoal:viewers" of ClusterRole "view" to Group "shoal:viewers"`},
		{"viewer create", viewer, "create", false, ""},
	} {
		st := can(t, tt.cs, tt.verb, "pods", "default")
		if st.Allowed != tt.allow || st.Reason != tt.reason {
			t.Errorf("%s: %+v, want allowed=%v reason %q", tt.name, st, tt.allow, tt.reason)
		}
	}

	rules, err := viewer.AuthorizationV1().SelfSubjectRulesReviews().Create(t.Context(), &authzv1.SelfSubjectRulesReview{
		Spec: authzv1.SelfSubjectRulesReviewSpec{Namespace: "default"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasResourceRule(rules.Status.ResourceRules, "list", "", "pods") || hasResourceRule(rules.Status.ResourceRules, "get", "", "secrets") ||
		!hasResourceRule(rules.Status.ResourceRules, "get", "", "nodes") || rules.Status.Incomplete {
		t.Errorf("viewer's rules in default: %+v", rules.Status)
	}
	if !slices.ContainsFunc(rules.Status.NonResourceRules, func(r authzv1.NonResourceRule) bool { return slices.Contains(r.NonResourceURLs, "/apis/*") }) {
		t.Errorf("viewer's rules lack discovery: %+v", rules.Status.NonResourceRules)
	}

	// Bad reviews name what is wrong.
	_, err = viewer.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authzv1.SelfSubjectAccessReview{}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || err.Error() != `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified` {
		t.Errorf("empty SelfSubjectAccessReview: %v", err)
	}
	_, err = viewer.AuthorizationV1().SelfSubjectRulesReviews().Create(t.Context(), &authzv1.SelfSubjectRulesReview{}, metav1.CreateOptions{})
	if !apierrors.IsBadRequest(err) || err.Error() != "no namespace on request" {
		t.Errorf("SelfSubjectRulesReview without a namespace: %v", err)
	}
}

func hasResourceRule(rules []authzv1.ResourceRule, verb, group, resource string) bool {
	return slices.ContainsFunc(rules, func(r authzv1.ResourceRule) bool {
		return (slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) && slices.Contains(r.APIGroups, group) &&
			slices.Contains(r.Resources, resource) && len(r.ResourceNames) == 0
	})
}

// SubjectAccessReview and LocalSubjectAccessReview ask about someone else:
// who may create them is RBAC's to say.
func TestSubjectAccessReviews(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("team")
	sa := "system:serviceaccount:team:app"
	review := func(cs kubernetes.Interface) (*authzv1.SubjectAccessReview, error) {
		return cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "team", Verb: "list", Resource: "pods"}}}, metav1.CreateOptions{})
	}
	if r, err := review(a.cs); err != nil || r.Status.Allowed {
		t.Fatalf("before any binding: %+v, %v", r, err)
	}
	_, err := a.cs.RbacV1().RoleBindings("team").Create(t.Context(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "app-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "app"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the binding applies", func() error {
		r, err := review(a.cs)
		if err == nil && !r.Status.Allowed {
			err = fmt.Errorf("denied: %+v", r.Status)
		}
		return err
	})
	if r, _ := review(a.cs); r.Status.Reason != `RBAC: allowed by RoleBinding "app-view/team" of ClusterRole "view" to ServiceAccount "app/team"` {
		t.Errorf("reason %q", r.Status.Reason)
	}
	if _, err := review(a.asToken(a.viewer)); !apierrors.IsForbidden(err) ||
		err.Error() != `subjectaccessreviews.authorization.k8s.io is forbidden: User "viewer" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope` {
		t.Errorf("a viewer's SubjectAccessReview: %v", err)
	}
	_, err = a.cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		ResourceAttributes: &authzv1.ResourceAttributes{Verb: "get", Resource: "pods"}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.user: Invalid value: \"\": at least one of user or group must be specified") {
		t.Errorf("a SubjectAccessReview about no one: %v", err)
	}

	local := func(ns string) (*authzv1.LocalSubjectAccessReview, error) {
		return a.cs.AuthorizationV1().LocalSubjectAccessReviews("team").Create(t.Context(), &authzv1.LocalSubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: sa, ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "configmaps", Name: "x"}}}, metav1.CreateOptions{})
	}
	// Groups are as given: the ServiceAccount's binding names it as a user.
	if r, err := local("team"); err != nil || !r.Status.Allowed || r.Namespace != "team" {
		t.Errorf("local review in team: %+v, %v", r, err)
	}
	if _, err := local("other"); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.resourceAttributes.namespace: Invalid value: \"other\": must match metadata.namespace") {
		t.Errorf("local review of another namespace: %v", err)
	}
	a.do("GET", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "").wantStatus(t, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
}
