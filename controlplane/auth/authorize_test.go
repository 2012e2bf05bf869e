package auth

import "testing"

// TestAuthorize covers the chain without RBAC: the Node authorizer and
// system:masters (package rbac tests RBAC, and the chain with it).
func TestAuthorize(t *testing.T) {
	z := &Authorizer{}
	admin := &User{Name: AdminUser, Groups: []string{GroupMasters}}
	n1 := &User{Name: "system:node:n1", Groups: []string{GroupNodes}}
	notNode := &User{Name: "n1", Groups: []string{GroupNodes}}           // lacks the system:node: prefix
	nodeNameOnly := &User{Name: "system:node:n1", Groups: []string{"x"}} // lacks the system:nodes group
	both := &User{Name: "ops", Groups: []string{GroupViewers, GroupNodes}}

	type A = Attributes
	tests := []struct {
		name   string
		a      A
		want   bool
		reason string // checked when not empty
	}{
		{"admin create service", A{User: admin, Verb: "create", Resource: "services", Namespace: "default"}, true, ""},
		{"admin delete node", A{User: admin, Verb: "delete", Resource: "nodes", Name: "n1"}, true, ""},
		{"admin deletecollection pods", A{User: admin, Verb: "deletecollection", Resource: "pods", Namespace: "default"}, true, ""},
		{"admin metrics", A{User: admin, Verb: "get", NonResourcePath: "/metrics"}, true, ""},
		{"without RBAC, others nothing", A{User: both, Verb: "create", Resource: "services", Namespace: "default"}, false,
			`User "ops" cannot create resource "services" in API group "" in the namespace "default"`},
		{"no user", A{Verb: "get", NonResourcePath: "/version"}, false, `User "" cannot get path "/version"`},
		{"cluster scope", A{User: both, Verb: "patch", Resource: "nodes", Subresource: "status", Name: "n1"}, false,
			`User "ops" cannot patch resource "nodes/status" in API group "" at the cluster scope`},

		{"node reads pods", A{User: n1, Verb: "list", Resource: "pods"}, true, ""},
		{"node watches services", A{User: n1, Verb: "watch", Resource: "services", Namespace: "default"}, true, ""},
		{"node creates own node", A{User: n1, Verb: "create", Resource: "nodes", Name: "n1"}, true, ""},
		{"node updates own node", A{User: n1, Verb: "update", Resource: "nodes", Name: "n1"}, true, ""},
		{"node patches own node status", A{User: n1, Verb: "patch", Resource: "nodes", Subresource: "status", Name: "n1"}, true, ""},
		{"node creates other node", A{User: n1, Verb: "create", Resource: "nodes", Name: "n2"}, false,
			`User "system:node:n1" cannot create resource "nodes" in API group "" at the cluster scope`},
		{"node patches other node status", A{User: n1, Verb: "patch", Resource: "nodes", Subresource: "status", Name: "n2"}, false, ""},
		{"node deletes own node", A{User: n1, Verb: "delete", Resource: "nodes", Name: "n1"}, false, ""},
		{"node creates own lease", A{User: n1, Verb: "create", Resource: "leases", APIGroup: "coordination.k8s.io", Namespace: "kube-node-lease", Name: "n1"}, true, ""},
		{"node updates own lease", A{User: n1, Verb: "update", Resource: "leases", APIGroup: "coordination.k8s.io", Namespace: "kube-node-lease", Name: "n1"}, true, ""},
		{"node updates other lease", A{User: n1, Verb: "update", Resource: "leases", APIGroup: "coordination.k8s.io", Namespace: "kube-node-lease", Name: "n2"}, false,
			`User "system:node:n1" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "kube-node-lease"`},
		{"node updates lease elsewhere", A{User: n1, Verb: "update", Resource: "leases", APIGroup: "coordination.k8s.io", Namespace: "kube-system", Name: "n1"}, false, ""},
		{"node creates event", A{User: n1, Verb: "create", Resource: "events", Namespace: "default"}, true, ""},
		{"node creates events.k8s.io event", A{User: n1, Verb: "create", Resource: "events", APIGroup: "events.k8s.io", Namespace: "default"}, true, ""},
		{"node deletes event", A{User: n1, Verb: "delete", Resource: "events", Namespace: "default", Name: "e"}, false, ""},
		{"node patches pod status", A{User: n1, Verb: "patch", Resource: "pods", Subresource: "status", Namespace: "default", Name: "web"}, true, ""},
		{"node updates pod status", A{User: n1, Verb: "update", Resource: "pods", Subresource: "status", Namespace: "default", Name: "web"}, true, ""},
		{"node updates pod", A{User: n1, Verb: "update", Resource: "pods", Namespace: "default", Name: "web"}, false, ""},
		{"node creates pod", A{User: n1, Verb: "create", Resource: "pods", Namespace: "default", Name: "web"}, false, ""},
		// Allowed here; the API server then checks the pod is bound to n1.
		{"node deletes pod", A{User: n1, Verb: "delete", Resource: "pods", Namespace: "default", Name: "web"}, true, ""},
		{"node deletes pods", A{User: n1, Verb: "deletecollection", Resource: "pods", Namespace: "default"}, false, ""},
		{"node creates service", A{User: n1, Verb: "create", Resource: "services", Namespace: "default"}, false, ""},
		{"node gets metrics", A{User: n1, Verb: "get", NonResourcePath: "/metrics"}, false, ""},
		{"in system:nodes under another name", A{User: both, Verb: "list", Resource: "secrets"}, false, ""},
		{"node group without node name", A{User: notNode, Verb: "get", Resource: "pods"}, false, ""},
		{"node name without node group", A{User: nodeNameOnly, Verb: "update", Resource: "nodes", Name: "n1"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := z.Authorize(tt.a)
			if d.Allowed != tt.want {
				t.Fatalf("Authorize = %+v, want %v", d, tt.want)
			}
			if msg := Forbidden(tt.a, d.Reason); tt.reason != "" && msg != tt.reason {
				t.Errorf("message = %s\nwant      %s", msg, tt.reason)
			}
		})
	}
}

func TestNodeName(t *testing.T) {
	tests := []struct {
		user *User
		want string
		ok   bool
	}{
		{&User{Name: NodeUser("n1"), Groups: []string{GroupNodes}}, "n1", true},
		{&User{Name: "system:node:", Groups: []string{GroupNodes}}, "", false},
		{&User{Name: "n1", Groups: []string{GroupNodes}}, "", false},
		{&User{Name: NodeUser("n1")}, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		got, ok := NodeName(tt.user)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NodeName(%+v) = %q, %v; want %q, %v", tt.user, got, ok, tt.want, tt.ok)
		}
	}
}

func TestForbiddenWithReason(t *testing.T) {
	a := Attributes{User: &User{Name: "carol"}, Verb: "get", Resource: "pods", Namespace: "team", Name: "p"}
	want := `User "carol" cannot get resource "pods" in API group "" in the namespace "team": RBAC: role.rbac.authorization.k8s.io "gone" not found`
	if got := Forbidden(a, `RBAC: role.rbac.authorization.k8s.io "gone" not found`); got != want {
		t.Errorf("Forbidden = %s\nwant       %s", got, want)
	}
}

func TestAuthenticated(t *testing.T) {
	u := &User{Name: "jane", Groups: []string{"devs"}}
	a := Authenticated(u)
	if !a.InGroup(GroupAuthenticated) || u.InGroup(GroupAuthenticated) {
		t.Errorf("Authenticated(%v) = %v: want the group added to a copy", u, a)
	}
	if Authenticated(a) != a {
		t.Error("a user already in the group was copied")
	}
}

func TestServiceAccountUsername(t *testing.T) {
	name := ServiceAccountUsername("team", "app")
	if name != "system:serviceaccount:team:app" {
		t.Fatalf("ServiceAccountUsername = %q", name)
	}
	if ns, sa, err := SplitServiceAccountUsername(name); err != nil || ns != "team" || sa != "app" {
		t.Errorf("Split(%q) = %q, %q, %v", name, ns, sa, err)
	}
	for _, bad := range []string{"jane", "system:serviceaccount:team", "system:serviceaccount::app", "system:serviceaccount:team:", "system:serviceaccount:a:b:c"} {
		if _, _, err := SplitServiceAccountUsername(bad); err == nil {
			t.Errorf("Split(%q) succeeded", bad)
		}
	}
}
