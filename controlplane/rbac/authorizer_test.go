package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// bootstrapPolicy is the default policy with its aggregated roles filled,
// as Reconcile and the aggregation controller leave it, plus extra.
func bootstrapPolicy(t testing.TB, extra Policy) Policy {
	t.Helper()
	p := extra
	p.ClusterRoles = append(p.ClusterRoles, ClusterRoles()...)
	p.ClusterRoleBindings = append(p.ClusterRoleBindings, ClusterRoleBindings()...)
	// admin aggregates edit, which aggregates view: fill in that order
	// (the controller gets there by going round until nothing changes).
	for _, name := range []string{"view", "edit", "admin"} {
		for _, r := range p.ClusterRoles {
			if r.Name != name {
				continue
			}
			rules, ok, err := AggregatedRules(r, p.ClusterRoles)
			if err != nil || !ok {
				t.Fatalf("aggregate %s: ok=%v err=%v", name, ok, err)
			}
			r.Rules = rules
		}
	}
	return p
}

func user(name string, groups ...string) *auth.User {
	return &auth.User{Name: name, Groups: append(groups, auth.GroupAuthenticated)}
}

func saUser(ns, name string) *auth.User {
	return user(auth.ServiceAccountUsername(ns, name), auth.ServiceAccountGroups(ns)...)
}

func roleBinding(ns, name, kind, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role}, Subjects: subjects}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

// testPolicy: jane edits in team and reads pods in dev; the ServiceAccount
// team/app reads pods in team; kube-system/ops views everything; carol's
// binding names a role that does not exist; dana administers team.
func testPolicy(t *testing.T) Policy {
	podReader := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list", "watch"}}}
	return bootstrapPolicy(t, Policy{
		Roles: []*rbacv1.Role{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "pod-reader"}, Rules: podReader},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "pod-reader"}, Rules: podReader},
		},
		RoleBindings: []*rbacv1.RoleBinding{
			roleBinding("team", "jane-edits", "ClusterRole", "edit", userSubject("jane")),
			roleBinding("dev", "jane-reads", "Role", "pod-reader", userSubject("jane")),
			roleBinding("team", "app-pods", "Role", "pod-reader", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "app"}),
			roleBinding("team", "broken", "Role", "gone", userSubject("carol")),
			roleBinding("team", "dana-admin", "ClusterRole", "admin", userSubject("dana")),
		},
		ClusterRoleBindings: []*rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: "ops-view"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "kube-system", Name: "ops"}},
		}},
	})
}

func TestAuthorize(t *testing.T) {
	z := &auth.Authorizer{RBAC: NewStatic(testPolicy(t))}
	admin := user("admin", auth.GroupMasters)
	viewer := user("viewer", auth.GroupViewers)
	bob, jane, carol, dana := user("bob"), user("jane"), user("carol"), user("dana")
	app := saUser("team", "app")
	node := user("system:node:n1", auth.GroupNodes)

	type A = auth.Attributes
	tests := []struct {
		name    string
		a       A
		allowed bool
		reason  string // checked when set, and "" checked for denials
		by      string
	}{
		{"superuser", A{User: admin, Verb: "delete", Resource: "nodes", Name: "n1"}, true, "", "superuser"},
		{"superuser path", A{User: admin, Verb: "get", NonResourcePath: "/metrics"}, true, "", "superuser"},
		{"viewer lists pods", A{User: viewer, Verb: "list", Resource: "pods", Namespace: "default"}, true,
			`RBAC: allowed by ClusterRoleBinding "shoal:viewers" of ClusterRole "view" to Group "shoal:viewers"`, "rbac"},
		{"viewer lists pods everywhere", A{User: viewer, Verb: "list", Resource: "pods"}, true, "", "rbac"},
		{"viewer gets a node", A{User: viewer, Verb: "get", Resource: "nodes", Name: "n1"}, true,
			`RBAC: allowed by ClusterRoleBinding "shoal:viewer" of ClusterRole "shoal:viewer" to Group "shoal:viewers"`, "rbac"},
		{"viewer watches deployments", A{User: viewer, Verb: "watch", APIGroup: "apps", Resource: "deployments"}, true, "", "rbac"},
		{"viewer reads pod logs", A{User: viewer, Verb: "get", Resource: "pods", Subresource: "log", Namespace: "x", Name: "p"}, true, "", "rbac"},
		{"viewer reads no secret", A{User: viewer, Verb: "get", Resource: "secrets", Namespace: "x", Name: "s"}, false, "", ""},
		{"viewer creates no pod", A{User: viewer, Verb: "create", Resource: "pods", Namespace: "x"}, false, "", ""},
		{"viewer scales nothing", A{User: viewer, Verb: "patch", APIGroup: "apps", Resource: "deployments", Subresource: "scale", Namespace: "x", Name: "d"}, false, "", ""},
		{"viewer has no metrics", A{User: viewer, Verb: "get", NonResourcePath: "/metrics"}, false, "", ""},
		{"anyone discovers", A{User: bob, Verb: "get", NonResourcePath: "/apis/apps/v1"}, true,
			`RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"`, "rbac"},
		{"anyone asks can-i", A{User: bob, Verb: "create", APIGroup: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, true, "", "rbac"},
		{"anyone asks whoami", A{User: bob, Verb: "create", APIGroup: "authentication.k8s.io", Resource: "selfsubjectreviews"}, true, "", "rbac"},
		{"no binding, no pods", A{User: bob, Verb: "list", Resource: "pods", Namespace: "default"}, false, "", ""},
		{"edit in its namespace", A{User: jane, Verb: "create", APIGroup: "apps", Resource: "deployments", Namespace: "team"}, true,
			`RBAC: allowed by RoleBinding "jane-edits/team" of ClusterRole "edit" to User "jane"`, "rbac"},
		{"edit reads secrets", A{User: jane, Verb: "get", Resource: "secrets", Namespace: "team", Name: "s"}, true, "", "rbac"},
		{"edit impersonates service accounts", A{User: jane, Verb: "impersonate", Resource: "serviceaccounts", Namespace: "team", Name: "app"}, true, "", "rbac"},
		{"edit only there", A{User: jane, Verb: "create", APIGroup: "apps", Resource: "deployments", Namespace: "other"}, false, "", ""},
		{"a namespace's binding is not cluster-wide", A{User: jane, Verb: "list", APIGroup: "apps", Resource: "deployments"}, false, "", ""},
		{"edit writes no roles", A{User: jane, Verb: "create", APIGroup: rbacv1.GroupName, Resource: "roles", Namespace: "team"}, false, "", ""},
		{"a Role in another namespace", A{User: jane, Verb: "list", Resource: "pods", Namespace: "dev"}, true,
			`RBAC: allowed by RoleBinding "jane-reads/dev" of Role "pod-reader" to User "jane"`, "rbac"},
		{"admin writes roles", A{User: dana, Verb: "create", APIGroup: rbacv1.GroupName, Resource: "rolebindings", Namespace: "team"}, true, "", "rbac"},
		{"admin impersonates no user", A{User: dana, Verb: "impersonate", Resource: "users", Name: "admin"}, false, "", ""},
		{"service account in its binding's namespace", A{User: app, Verb: "list", Resource: "pods", Namespace: "team"}, true,
			`RBAC: allowed by RoleBinding "app-pods/team" of Role "pod-reader" to ServiceAccount "app/team"`, "rbac"},
		{"service account elsewhere", A{User: app, Verb: "list", Resource: "pods", Namespace: "default"}, false, "", ""},
		{"another namespace's account of that name", A{User: saUser("other", "app"), Verb: "list", Resource: "pods", Namespace: "team"}, false, "", ""},
		{"service account cluster-wide", A{User: saUser("kube-system", "ops"), Verb: "list", Resource: "configmaps", Namespace: "any"}, true,
			`RBAC: allowed by ClusterRoleBinding "ops-view" of ClusterRole "view" to ServiceAccount "ops/kube-system"`, "rbac"},
		{"a missing role says so", A{User: carol, Verb: "get", Resource: "pods", Namespace: "team", Name: "p"}, false,
			`RBAC: role.rbac.authorization.k8s.io "gone" not found`, ""},
		{"node reads", A{User: node, Verb: "list", Resource: "pods"}, true, "", "node"},
		{"node creates no namespace", A{User: node, Verb: "create", Resource: "namespaces"}, false, "", ""},
		{"node discovers as everyone", A{User: node, Verb: "get", NonResourcePath: "/api"}, true, "", "rbac"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := z.Authorize(tt.a)
			if d.Allowed != tt.allowed || d.By != tt.by {
				t.Errorf("Authorize = %+v, want allowed=%v by %q", d, tt.allowed, tt.by)
			}
			if (tt.reason != "" || !tt.allowed) && d.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestForbiddenMessage(t *testing.T) {
	z := &auth.Authorizer{RBAC: NewStatic(testPolicy(t))}
	a := auth.Attributes{User: saUser("default", "app"), Verb: "list", Resource: "pods", Namespace: "default"}
	d := z.Authorize(a)
	if got, want := auth.Forbidden(a, d.Reason), `User "system:serviceaccount:default:app" cannot list resource "pods" in API group "" in the namespace "default"`; d.Allowed || got != want {
		t.Errorf("allowed=%v, message %q, want %q", d.Allowed, got, want)
	}
	a = auth.Attributes{User: user("carol"), Verb: "get", Resource: "pods", Namespace: "team", Name: "p"}
	d = z.Authorize(a)
	if got, want := auth.Forbidden(a, d.Reason), `User "carol" cannot get resource "pods" in API group "" in the namespace "team": RBAC: role.rbac.authorization.k8s.io "gone" not found`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestRulesFor(t *testing.T) {
	z := NewStatic(testPolicy(t))
	jane := user("jane")
	rules, err := z.RulesFor(jane, "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		a    auth.Attributes
		want bool
	}{
		{auth.Attributes{Verb: "list", Resource: "pods"}, true},                             // pod-reader in dev
		{auth.Attributes{Verb: "get", NonResourcePath: "/version"}, true},                   // system:discovery
		{auth.Attributes{Verb: "create", APIGroup: "apps", Resource: "deployments"}, false}, // edit is in team only
	} {
		if got := RulesAllow(tt.a, rules); got != tt.want {
			t.Errorf("jane's rules in dev allow %+v: %v, want %v", tt.a, got, tt.want)
		}
	}
	if _, err := z.RulesFor(user("carol"), "team"); err == nil || err.Error() != `role.rbac.authorization.k8s.io "gone" not found` {
		t.Errorf("carol's rules in team: err = %v, want the missing role", err)
	}
}

func TestAuthorizerFollowsObjects(t *testing.T) {
	objs := &mutableObjects{}
	z := New(objs)
	a := auth.Attributes{User: user("jane"), Verb: "get", Resource: "pods", Namespace: "dev", Name: "p"}
	if ok, _ := z.Authorize(a); ok {
		t.Fatal("allowed before any binding")
	}
	objs.set(testPolicy(t))
	if ok, _ := z.Authorize(a); !ok {
		t.Fatal("denied after the binding appeared")
	}
	objs.set(Policy{})
	if ok, _ := z.Authorize(a); ok {
		t.Fatal("allowed after the binding went")
	}
	objs.set(testPolicy(t))
	objs.synced = false
	if ok, reason := z.Authorize(a); ok || reason != "RBAC: "+ErrNotSynced.Error() {
		t.Fatalf("not synced: allowed=%v reason=%q", ok, reason)
	}
}

// mutableObjects is a policy a test replaces, moving the revision on.
type mutableObjects struct {
	staticObjects
	rev    int64
	synced bool
}

func (m *mutableObjects) set(p Policy)    { m.p, m.rev, m.synced = p, m.rev+1, true }
func (m *mutableObjects) Revision() int64 { return m.rev }
func (m *mutableObjects) Synced() bool    { return m.synced }
