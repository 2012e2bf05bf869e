package rbac

import (
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// largePolicy is the default policy and, in each of n namespaces, a Role
// and a RoleBinding of it to a ServiceAccount and a user.
func largePolicy(b *testing.B, n int) Policy {
	var p Policy
	for i := range n {
		ns := fmt.Sprintf("ns-%d", i)
		p.Roles = append(p.Roles, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "configmaps"}, Verbs: []string{"get", "list", "watch"}}}})
		p.RoleBindings = append(p.RoleBindings, roleBinding(ns, "app", "Role", "app",
			rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "app"}, userSubject(fmt.Sprintf("dev-%d", i))))
	}
	return bootstrapPolicy(b, p)
}

// BenchmarkAuthorize measures one decision against 1000 namespaces' roles
// and bindings plus the default policy, through the whole chain.
func BenchmarkAuthorize(b *testing.B) {
	z := &auth.Authorizer{RBAC: NewStatic(largePolicy(b, 1000))}
	cases := []struct {
		name string
		a    auth.Attributes
		want bool
	}{
		{"service account allowed by its RoleBinding", auth.Attributes{User: saUser("ns-500", "app"), Verb: "list", Resource: "pods", Namespace: "ns-500"}, true},
		{"viewer allowed by a ClusterRoleBinding", auth.Attributes{User: user("viewer", auth.GroupViewers), Verb: "get", APIGroup: "apps", Resource: "deployments", Namespace: "ns-1", Name: "web"}, true},
		{"denied", auth.Attributes{User: saUser("ns-500", "app"), Verb: "delete", Resource: "pods", Namespace: "ns-500", Name: "p"}, false},
		{"superuser", auth.Attributes{User: user("admin", auth.GroupMasters), Verb: "create", Resource: "pods", Namespace: "x"}, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if d := z.Authorize(c.a); d.Allowed != c.want {
				b.Fatalf("Authorize = %+v, want allowed=%v", d, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				z.Authorize(c.a)
			}
		})
	}
}

// BenchmarkIndex measures rebuilding the index after a change, for 1000
// namespaces' roles and bindings plus the default policy.
func BenchmarkIndex(b *testing.B) {
	p := largePolicy(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		newIndex(p, 1)
	}
}
