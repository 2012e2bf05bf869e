package table

import (
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Roles print when they were made as a date, not an age, as in Kubernetes.
var roleColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Created At", Type: "date", Description: createdDoc},
}

// The roleRef's description comes from rbac/v1beta1, as in Kubernetes'
// printers.
var roleBindingColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Role", Type: "string", Description: rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"]},
	ageColumn,
	{Name: "Users", Type: "string", Priority: 1, Description: "Users in the roleBinding"},
	{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the roleBinding"},
	{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the roleBinding"},
}

var clusterRoleBindingColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Role", Type: "string", Description: rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"]},
	ageColumn,
	{Name: "Users", Type: "string", Priority: 1, Description: "Users in the clusterRoleBinding"},
	{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the clusterRoleBinding"},
	{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the clusterRoleBinding"},
}

func init() {
	gk := func(kind string) schema.GroupKind { return schema.GroupKind{Group: rbacv1.GroupName, Kind: kind} }
	register(gk("Role"), "v1", roleColumns, rowOf(func(r *rbacv1.Role, _ time.Time) metav1.TableRow {
		return cells(r.Name, createdAt(r.CreationTimestamp))
	}))
	register(gk("ClusterRole"), "v1", roleColumns, rowOf(func(r *rbacv1.ClusterRole, _ time.Time) metav1.TableRow {
		return cells(r.Name, createdAt(r.CreationTimestamp))
	}))
	register(gk("RoleBinding"), "v1", roleBindingColumns, rowOf(func(b *rbacv1.RoleBinding, now time.Time) metav1.TableRow {
		return bindingRow(b.Name, b.RoleRef, b.Subjects, b.CreationTimestamp, now)
	}))
	register(gk("ClusterRoleBinding"), "v1", clusterRoleBindingColumns, rowOf(func(b *rbacv1.ClusterRoleBinding, now time.Time) metav1.TableRow {
		return bindingRow(b.Name, b.RoleRef, b.Subjects, b.CreationTimestamp, now)
	}))
}

// createdAt is a Created At cell: RFC 3339 in UTC.
func createdAt(t metav1.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// bindingRow is NAME ROLE AGE, then the subjects by kind (wide): ROLE is
// Kind/name, ServiceAccounts namespace/name, as Kubernetes prints them.
func bindingRow(name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, created metav1.Time, now time.Time) metav1.TableRow {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return cells(name, fmt.Sprintf("%s/%s", ref.Kind, ref.Name), age(created, now),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", "))
}
