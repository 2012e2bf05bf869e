package api

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

var rbacV1 = rbacv1.SchemeGroupVersion

// The rbac.authorization.k8s.io/v1 resources: who may do what. Kubernetes
// gives them no short names and no categories; their keys follow its etcd
// layout.
var (
	Roles = &Info{Resource: &Resource{
		GroupVersion: rbacV1, Kind: "Role", Name: "roles", Namespaced: true, Prefix: "/registry/roles/",
		New: func() Object { return &rbacv1.Role{} },
	}, ListKind: "RoleList", Singular: "role"}

	ClusterRoles = &Info{Resource: &Resource{
		GroupVersion: rbacV1, Kind: "ClusterRole", Name: "clusterroles", Prefix: "/registry/clusterroles/",
		New: func() Object { return &rbacv1.ClusterRole{} },
	}, ListKind: "ClusterRoleList", Singular: "clusterrole"}

	RoleBindings = &Info{Resource: &Resource{
		GroupVersion: rbacV1, Kind: "RoleBinding", Name: "rolebindings", Namespaced: true, Prefix: "/registry/rolebindings/",
		New: func() Object { return &rbacv1.RoleBinding{} },
	}, ListKind: "RoleBindingList", Singular: "rolebinding"}

	ClusterRoleBindings = &Info{Resource: &Resource{
		GroupVersion: rbacV1, Kind: "ClusterRoleBinding", Name: "clusterrolebindings", Prefix: "/registry/clusterrolebindings/",
		New: func() Object { return &rbacv1.ClusterRoleBinding{} },
	}, ListKind: "ClusterRoleBindingList", Singular: "clusterrolebinding"}
)

// RBAC is every rbac.authorization.k8s.io resource, in discovery order.
var RBAC = []*Info{Roles, ClusterRoles, RoleBindings, ClusterRoleBindings}
