package registry

import "github.com/shoalmesh/shoal/api"

// The rbac.authorization.k8s.io resources, as package api describes them.
var (
	Roles               = api.Roles
	ClusterRoles        = api.ClusterRoles
	RoleBindings        = api.RoleBindings
	ClusterRoleBindings = api.ClusterRoleBindings
)
