package auth

import "testing"

func TestAuthorize(t *testing.T) {
	admin := &User{Name: AdminUser, Groups: []string{GroupMasters}}
	viewer := &User{Name: ViewerUser, Groups: []string{GroupViewers}}
	n1 := &User{Name: "system:node:n1", Groups: []string{GroupNodes}}
	notNode := &User{Name: "n1", Groups: []string{GroupNodes}}           // lacks the system:node: prefix
	nodeNameOnly := &User{Name: "system:node:n1", Groups: []string{"x"}} // lacks the system:nodes group
	nobody := &User{Name: "nobody", Groups: []string{"system:authenticated"}}
	both := &User{Name: "ops", Groups: []string{GroupViewers, GroupNodes}}
	// A service account's token user, until RBAC grants it anything.
	account := &User{Name: "system:serviceaccount:ci:builder", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"}}

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

		{"viewer list pods", A{User: viewer, Verb: "list", Resource: "pods", Namespace: "default"}, true, ""},
		{"viewer watch deployments", A{User: viewer, Verb: "watch", Resource: "deployments", APIGroup: "apps"}, true, ""},
		{"viewer get node", A{User: viewer, Verb: "get", Resource: "nodes", Name: "n1"}, true, ""},
		{"viewer create service", A{User: viewer, Verb: "create", Resource: "services", Namespace: "default"}, false,
			`User "viewer" cannot create resource "services" in API group "" in the namespace "default"`},
		{"viewer delete deployment", A{User: viewer, Verb: "delete", Resource: "deployments", APIGroup: "apps", Namespace: "web", Name: "api"}, false,
			`User "viewer" cannot delete resource "deployments" in API group "apps" in the namespace "web"`},
		{"viewer patch node status", A{User: viewer, Verb: "patch", Resource: "nodes", Subresource: "status", Name: "n1"}, false,
			`User "viewer" cannot patch resource "nodes/status" in API group "" at the cluster scope`},
		{"viewer metrics", A{User: viewer, Verb: "get", NonResourcePath: "/metrics"}, false,
			`User "viewer" cannot get path "/metrics"`},

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
		{"node group without node name", A{User: notNode, Verb: "get", Resource: "pods"}, false, ""},
		{"node name without node group", A{User: nodeNameOnly, Verb: "update", Resource: "nodes", Name: "n1"}, false, ""},

		{"viewer and node groups add up", A{User: both, Verb: "list", Resource: "secrets"}, true, ""},

		{"nobody version", A{User: nobody, Verb: "get", NonResourcePath: "/version"}, true, ""},
		{"nobody api", A{User: nobody, Verb: "get", NonResourcePath: "/api"}, true, ""},
		{"nobody api v1", A{User: nobody, Verb: "get", NonResourcePath: "/api/v1"}, true, ""},
		{"nobody apis", A{User: nobody, Verb: "get", NonResourcePath: "/apis"}, true, ""},
		{"nobody openapi v3", A{User: nobody, Verb: "get", NonResourcePath: "/openapi/v3"}, true, ""},
		{"nobody openapi v2", A{User: nobody, Verb: "get", NonResourcePath: "/openapi/v2"}, true, ""},
		{"nobody healthz", A{User: nobody, Verb: "get", NonResourcePath: "/healthz"}, true, ""},
		{"nobody livez", A{User: nobody, Verb: "get", NonResourcePath: "/livez"}, true, ""},
		{"nobody readyz", A{User: nobody, Verb: "get", NonResourcePath: "/readyz"}, true, ""},
		{"nobody apis prefix lookalike", A{User: nobody, Verb: "get", NonResourcePath: "/apisx"}, false, ""},
		{"nobody list pods", A{User: nobody, Verb: "list", Resource: "pods", Namespace: "default"}, false,
			`User "nobody" cannot list resource "pods" in API group "" in the namespace "default"`},
		{"service account discovery", A{User: account, Verb: "get", NonResourcePath: "/apis"}, true, ""},
		{"service account list pods", A{User: account, Verb: "list", Resource: "pods", Namespace: "ci"}, false,
			`User "system:serviceaccount:ci:builder" cannot list resource "pods" in API group "" in the namespace "ci"`},
		{"service account create token", A{User: account, Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: "ci", Name: "builder"}, false, ""},
		{"service account get secret", A{User: account, Verb: "get", Resource: "secrets", Namespace: "ci", Name: "db"}, false, ""},
		{"unauthenticated version", A{Verb: "get", NonResourcePath: "/version"}, false, `User "" cannot get path "/version"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Authorize(tt.a)
			if got != tt.want {
				t.Fatalf("Authorize = %v (%s), want %v", got, reason, tt.want)
			}
			if !got && reason == "" {
				t.Error("denied without a reason")
			}
			if tt.reason != "" && reason != tt.reason {
				t.Errorf("reason = %s\nwant     %s", reason, tt.reason)
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
