package registry

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func validRole() *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: objectMeta("default", "pod-reader"),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"web"}, Verbs: []string{"*"}},
		},
	}
}

func validClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "system:metrics-reader"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get"}},
			{NonResourceURLs: []string{"/metrics", "/healthz/*"}, Verbs: []string{"get"}},
		},
	}
}

func validRoleBinding() *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: objectMeta("default", "read-pods"),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"},
			{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"},
			{Kind: rbacv1.ServiceAccountKind, Name: "app"}, // in the binding's namespace
		},
	}
}

func validClusterRoleBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "system:node:n1"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "kube-system", Name: "app"}},
	}
}

func TestValidateRBAC(t *testing.T) {
	role := func(change func(*rbacv1.Role)) *rbacv1.Role { return with(validRole(), change) }
	cr := func(change func(*rbacv1.ClusterRole)) *rbacv1.ClusterRole { return with(validClusterRole(), change) }
	rb := func(change func(*rbacv1.RoleBinding)) *rbacv1.RoleBinding { return with(validRoleBinding(), change) }
	crb := func(change func(*rbacv1.ClusterRoleBinding)) *rbacv1.ClusterRoleBinding {
		return with(validClusterRoleBinding(), change)
	}
	tests := []struct {
		name string
		obj  runtime.Object
		want []string
	}{
		{"valid role", validRole(), nil},
		{"valid cluster role", validClusterRole(), nil},
		{"valid role binding", validRoleBinding(), nil},
		{"valid cluster role binding", validClusterRoleBinding(), nil},
		{"role name with a slash", role(func(r *rbacv1.Role) { r.Name = "a/b" }), []string{"metadata.name: Invalid value"}},
		{"rule without verbs", role(func(r *rbacv1.Role) { r.Rules[0].Verbs = nil }), []string{"rules[0].verbs: Required value"}},
		{"rule without groups or resources", role(func(r *rbacv1.Role) { r.Rules[1] = rbacv1.PolicyRule{Verbs: []string{"get"}} }),
			[]string{"rules[1].apiGroups: Required value", "rules[1].resources: Required value"}},
		{"role with a URL", role(func(r *rbacv1.Role) {
			r.Rules[0] = rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}
		}),
			[]string{"rules[0].nonResourceURLs: Invalid value"}},
		{"URL and resource in one rule", cr(func(r *rbacv1.ClusterRole) { r.Rules[1].Resources = []string{"pods"} }),
			[]string{"rules[1].nonResourceURLs: Invalid value"}},
		{"empty aggregation rule", cr(func(r *rbacv1.ClusterRole) { r.AggregationRule = &rbacv1.AggregationRule{} }),
			[]string{"aggregationRule.clusterRoleSelectors: Required value"}},
		{"bad aggregation selector", cr(func(r *rbacv1.ClusterRole) {
			r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "not valid"}}}}
		}), []string{"aggregationRule.clusterRoleSelectors[0].matchLabels: Invalid value", "aggregationRule.clusterRoleSelectors[0]: Invalid value"}},
		{"binding to a Pod", rb(func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "Pod" }), []string{"roleRef.kind: Unsupported value"}},
		{"binding in another group", rb(func(b *rbacv1.RoleBinding) { b.RoleRef.APIGroup = "apps" }), []string{"roleRef.apiGroup: Unsupported value"}},
		{"binding without a role name", rb(func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "" }), []string{"roleRef.name: Required value"}},
		{"cluster binding to a Role", crb(func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Kind = "Role" }), []string{"roleRef.kind: Unsupported value"}},
		{"subject of unknown kind", rb(func(b *rbacv1.RoleBinding) { b.Subjects[0].Kind = "Robot" }), []string{"subjects[0].kind: Unsupported value"}},
		{"user in the core group", rb(func(b *rbacv1.RoleBinding) { b.Subjects[0].APIGroup = "" }), []string{"subjects[0].apiGroup: Unsupported value"}},
		{"nameless group", rb(func(b *rbacv1.RoleBinding) { b.Subjects[1].Name = "" }),
			[]string{"subjects[1].name: Required value", "subjects[1].name: Invalid value"}},
		{"service account in the rbac group", rb(func(b *rbacv1.RoleBinding) { b.Subjects[2].APIGroup = rbacv1.GroupName }),
			[]string{"subjects[2].apiGroup: Unsupported value"}},
		{"service account with a bad name", rb(func(b *rbacv1.RoleBinding) { b.Subjects[2].Name = "App" }), []string{"subjects[2].name: Invalid value"}},
		{"cluster binding's service account without namespace", crb(func(b *rbacv1.ClusterRoleBinding) { b.Subjects[0].Namespace = "" }),
			[]string{"subjects[0].namespace: Required value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.obj), tt.want) })
	}
}

func TestValidateRBACUpdate(t *testing.T) {
	old := validRoleBinding()
	moved := with(validRoleBinding(), func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "admin"; b.RoleRef.Kind = "ClusterRole" })
	checkErrors(t, ValidateUpdate(moved, old), []string{"roleRef: Invalid value"})
	more := with(validRoleBinding(), func(b *rbacv1.RoleBinding) { b.Subjects = b.Subjects[:1] })
	checkErrors(t, ValidateUpdate(more, old), nil)
}

func TestRBACDefaults(t *testing.T) {
	b := &rbacv1.ClusterRoleBinding{
		RoleRef:  rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "Group", Name: "devs"}, {Kind: "ServiceAccount", Namespace: "x", Name: "app"}},
	}
	SetDefaults(b)
	if b.RoleRef.APIGroup != rbacv1.GroupName || b.Subjects[0].APIGroup != rbacv1.GroupName || b.Subjects[1].APIGroup != rbacv1.GroupName || b.Subjects[2].APIGroup != "" {
		t.Errorf("defaulted binding: %+v", b)
	}
}
