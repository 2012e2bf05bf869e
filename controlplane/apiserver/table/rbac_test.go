package table

import (
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRBACRows(t *testing.T) {
	gk := func(kind string) schema.GroupKind { return schema.GroupKind{Group: rbacv1.GroupName, Kind: kind} }
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}
	subjects := []rbacv1.Subject{
		{Kind: "User", Name: "jane"}, {Kind: "Group", Name: "devs"}, {Kind: "User", Name: "bob"},
		{Kind: "ServiceAccount", Namespace: "team", Name: "app"},
	}
	meta := metav1.ObjectMeta{Name: "readers", Namespace: "team", CreationTimestamp: ago(90 * time.Minute)}
	tests := []struct {
		name string
		gk   schema.GroupKind
		obj  runtime.Object
		want []any
	}{
		{"role", gk("Role"), &rbacv1.Role{ObjectMeta: meta}, []any{"readers", "2026-11-01T10:30:00Z"}},
		{"cluster role", gk("ClusterRole"), &rbacv1.ClusterRole{ObjectMeta: meta}, []any{"readers", "2026-11-01T10:30:00Z"}},
		{"role binding", gk("RoleBinding"), &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects},
			[]any{"readers", "ClusterRole/view", "90m", "jane, bob", "devs", "team/app"}},
		{"cluster role binding, no subjects", gk("ClusterRoleBinding"), &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref},
			[]any{"readers", "ClusterRole/view", "90m", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertCells(t, rowCells(t, tt.gk, tt.obj), tt.want) })
	}
}
