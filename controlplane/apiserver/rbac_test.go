package apiserver_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

func role(name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
}

func rule(group, resource string, verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs}
}

func roleBinding(name, kind, roleName, user string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
}

// allowed waits until cs may verb resource in namespace: a binding takes
// effect when the API server's cache has it, moments after it is written.
func allowed(t *testing.T, cs kubernetes.Interface, verb, resource, namespace string) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "can-i "+verb+" "+resource, func() error {
		if st := can(t, cs, verb, resource, namespace); !st.Allowed {
			return fmt.Errorf("denied: %+v", st)
		}
		return nil
	})
}

// Escalation prevention: jane administers namespace team (ClusterRole admin
// bound there); she may make roles and bindings with what she holds, not
// more, until she is allowed to escalate and bind; nothing refused is
// stored.
func TestRBACEscalation(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("team")
	janeToken, err := a.shoal.Tokens.Add("jane", nil)
	if err != nil {
		t.Fatal(err)
	}
	jane := a.asToken(janeToken)
	ctx := t.Context()
	if _, err := a.cs.RbacV1().RoleBindings("team").Create(ctx, roleBinding("jane-admin", "ClusterRole", "admin", "jane"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	allowed(t, jane, "create", "roles.rbac.authorization.k8s.io", "team")
	roles := jane.RbacV1().Roles("team")

	if _, err := roles.Create(ctx, role("reader", rule("", "pods", "get", "list")), metav1.CreateOptions{}); err != nil {
		t.Errorf("a role within her rights: %v", err)
	}
	const groups = `user "jane" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n"
	refusals := []struct {
		name string
		do   func() error
		msg  string
	}{
		{"role with nodes", func() error {
			_, err := roles.Create(ctx, role("nodes", rule("", "nodes", "get", "list"), rule("", "pods", "get")), metav1.CreateOptions{})
			return err
		}, `roles.rbac.authorization.k8s.io "nodes" is forbidden: ` + groups + `{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}`},
		{"role patched to more", func() error {
			_, err := roles.Patch(ctx, "reader", types.JSONPatchType, []byte(`[{"op":"add","path":"/rules/-","value":{"apiGroups":[""],"resources":["nodes"],"verbs":["delete"]}}]`), metav1.PatchOptions{})
			return err
		}, `roles.rbac.authorization.k8s.io "reader" is forbidden: ` + groups + `{APIGroups:[""], Resources:["nodes"], Verbs:["delete"]}`},
		{"binding to cluster-admin", func() error {
			_, err := jane.RbacV1().RoleBindings("team").Create(ctx, roleBinding("root", "ClusterRole", "cluster-admin", "bob"), metav1.CreateOptions{})
			return err
		}, `rolebindings.rbac.authorization.k8s.io "root" is forbidden: ` + groups + `{APIGroups:["*"], Resources:["*"], Verbs:["*"]}` + "\n" + `{NonResourceURLs:["*"], Verbs:["*"]}`},
		{"cluster role", func() error {
			_, err := jane.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
			return err
		}, `clusterroles.rbac.authorization.k8s.io is forbidden: User "jane" cannot create resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope`},
	}
	for _, r := range refusals {
		if err := r.do(); !apierrors.IsForbidden(err) || err.Error() != r.msg {
			t.Errorf("%s: %v\nwant 403 %s", r.name, err, r.msg)
		}
	}
	if _, err := roles.Get(ctx, "nodes", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("refused role nodes: %v, want NotFound", err)
	}
	if r, err := roles.Get(ctx, "reader", metav1.GetOptions{}); err != nil || len(r.Rules) != 1 {
		t.Errorf("role reader after a refused patch: %+v, %v", r, err)
	}
	if _, err := a.cs.RbacV1().RoleBindings("team").Get(ctx, "root", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("refused binding root: %v, want NotFound", err)
	}
	// What she holds she may pass on: edit is within admin.
	if _, err := jane.RbacV1().RoleBindings("team").Create(ctx, roleBinding("bob-edits", "ClusterRole", "edit", "bob"), metav1.CreateOptions{}); err != nil {
		t.Errorf("binding edit: %v", err)
	}
	if _, err := jane.RbacV1().RoleBindings("team").Create(ctx, roleBinding("bob-reads", "Role", "reader", "bob"), metav1.CreateOptions{}); err != nil {
		t.Errorf("binding her own role: %v", err)
	}
	if _, err := jane.RbacV1().RoleBindings("team").Create(ctx, roleBinding("ghost", "Role", "nope", "bob"), metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("binding a missing role: %v, want NotFound", err)
	}

	// escalate and bind lift the checks.
	if _, err := a.cs.RbacV1().Roles("team").Create(ctx, role("escalator",
		rule(rbacv1.GroupName, "roles", "escalate"), rbacv1.PolicyRule{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}, Verbs: []string{"bind"}},
	), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.cs.RbacV1().RoleBindings("team").Create(ctx, roleBinding("jane-escalates", "Role", "escalator", "jane"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	allowed(t, jane, "escalate", "roles.rbac.authorization.k8s.io", "team")
	if _, err := roles.Create(ctx, role("nodes", rule("", "nodes", "get")), metav1.CreateOptions{}); err != nil {
		t.Errorf("with escalate: %v", err)
	}
	if _, err := jane.RbacV1().RoleBindings("team").Create(ctx, roleBinding("root", "ClusterRole", "cluster-admin", "bob"), metav1.CreateOptions{}); err != nil {
		t.Errorf("with bind on cluster-admin: %v", err)
	}
}

// Invalid RBAC objects get 422 naming the field; nothing is stored.
func TestRBACValidation(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.do("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
		`{"metadata":{"name":"bad"},"rules":[{"apiGroups":[""],"resources":["pods"]},{"nonResourceURLs":["/metrics"],"verbs":["get"]}]}`).
		wantStatus(t, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
			`Role.rbac.authorization.k8s.io "bad" is invalid: [rules[0].verbs: Required value: verbs must contain at least one value, rules[1].nonResourceURLs: Invalid value: ["/metrics"]: namespaced rules cannot apply to non-resource URLs]`)
	a.do("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
		`{"metadata":{"name":"bad"},"roleRef":{"kind":"Role","name":"x"},"subjects":[{"kind":"ServiceAccount","name":"app"}]}`).
		wantStatus(t, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
			`roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"`, `subjects[0].namespace: Required value`)
	a.do("GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/bad", "").wantStatus(t, 404, metav1.StatusReasonNotFound)

	rb := roleBinding("rb", "ClusterRole", "view", "jane")
	if _, err := a.cs.RbacV1().RoleBindings("default").Create(t.Context(), rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.do("PATCH", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/rb", `{"roleRef":{"name":"edit"}}`,
		"Content-Type", "application/merge-patch+json").
		wantStatus(t, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "roleRef: Invalid value:", "cannot change roleRef")
}

// Impersonation: admin acts as anyone; a viewer is refused with Kubernetes'
// words; the impersonated user is what authorization sees.
func TestImpersonation(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	as := func(token string, imp rest.ImpersonationConfig) *kubernetes.Clientset {
		cfg := rest.CopyConfig(a.shoal.RESTConfig(t))
		cfg.BearerToken, cfg.Impersonate = token, imp
		return clientset(t, cfg)
	}
	whoami := func(cs kubernetes.Interface) (authnv1.UserInfo, error) {
		r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return authnv1.UserInfo{}, err
		}
		return r.Status.UserInfo, nil
	}
	for _, tt := range []struct {
		imp    rest.ImpersonationConfig
		name   string
		groups []string
	}{
		{rest.ImpersonationConfig{UserName: "jane"}, "jane", []string{"system:authenticated"}},
		{rest.ImpersonationConfig{UserName: "jane", Groups: []string{"devs"}, UID: "42", Extra: map[string][]string{"scopes": {"a", "b"}}},
			"jane", []string{"devs", "system:authenticated"}},
		{rest.ImpersonationConfig{UserName: "system:serviceaccount:team:app"}, "system:serviceaccount:team:app",
			[]string{"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"}},
	} {
		u, err := whoami(as(a.admin, tt.imp))
		if err != nil || u.Username != tt.name || !slices.Equal(u.Groups, tt.groups) {
			t.Errorf("admin as %+v: %+v, %v; want %s in %v", tt.imp, u, err, tt.name, tt.groups)
		}
		if tt.imp.UID != "" && (u.UID != tt.imp.UID || !slices.Equal(u.Extra["scopes"], []string{"a", "b"})) {
			t.Errorf("uid and extra not impersonated: %+v", u)
		}
	}
	// Groups given are the authority: in system:unauthenticated, jane is not
	// authenticated, so not even whoami is hers.
	if _, err := whoami(as(a.admin, rest.ImpersonationConfig{UserName: "jane", Groups: []string{"system:unauthenticated"}})); !apierrors.IsForbidden(err) {
		t.Errorf("admin as jane in system:unauthenticated: whoami %v, want 403", err)
	}
	// The viewer acting as admin is refused, whoever it names first.
	for _, tt := range []struct {
		imp rest.ImpersonationConfig
		msg string
	}{
		{rest.ImpersonationConfig{UserName: "admin"}, `users "admin" is forbidden: User "viewer" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{rest.ImpersonationConfig{UserName: "system:serviceaccount:team:app"},
			`serviceaccounts "app" is forbidden: User "viewer" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "team"`},
	} {
		if _, err := whoami(as(a.viewer, tt.imp)); !apierrors.IsForbidden(err) || err.Error() != tt.msg {
			t.Errorf("viewer as %+v: %v\nwant %s", tt.imp, err, tt.msg)
		}
	}
	// Allowed to impersonate jane but not the group: refused too.
	if _, err := a.cs.RbacV1().ClusterRoles().Create(t.Context(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "be-jane"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"jane"}, Verbs: []string{"impersonate"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.cs.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "viewer-be-jane"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "be-jane"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "viewer"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	asJane := as(a.viewer, rest.ImpersonationConfig{UserName: "jane"})
	testenv.Eventually(t, 5*time.Second, "viewer may act as jane", func() error {
		u, err := whoami(asJane)
		if err == nil && u.Username != "jane" {
			err = fmt.Errorf("whoami %q", u.Username)
		}
		return err
	})
	// jane has no rights of her own: the viewer acting as jane reads nothing.
	if _, err := asJane.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) ||
		err.Error() != `pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"` {
		t.Errorf("as jane: %v", err)
	}
	if _, err := whoami(as(a.viewer, rest.ImpersonationConfig{UserName: "jane", Groups: []string{"system:masters"}})); !apierrors.IsForbidden(err) ||
		err.Error() != `groups "system:masters" is forbidden: User "viewer" cannot impersonate resource "groups" in API group "" at the cluster scope` {
		t.Errorf("viewer as jane in system:masters: %v", err)
	}
	a.do("GET", "/api/v1/namespaces", "", "Impersonate-Group", "devs").wantStatus(t, http.StatusBadRequest, metav1.StatusReasonBadRequest, "without impersonating a user")

	r := a.do("GET", "/metrics", "").must(t, 200)
	for _, want := range []string{
		`shoal_apiserver_authorization_decisions_total{authorizer="superuser",decision="allowed"}`,
		`shoal_apiserver_authorization_decisions_total{authorizer="rbac",decision="allowed"}`,
		`shoal_apiserver_authorization_decisions_total{authorizer="none",decision="denied"}`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
