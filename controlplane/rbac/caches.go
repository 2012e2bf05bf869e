package rbac

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// NewForCaches returns an authorizer over the process's watch caches of
// the RBAC resources (which it creates if no part of the process has).
func NewForCaches(cs *store.Caches) *Authorizer {
	return New(&cacheObjects{
		roles:               cs.For(api.Roles.Resource),
		clusterRoles:        cs.For(api.ClusterRoles.Resource),
		roleBindings:        cs.For(api.RoleBindings.Resource),
		clusterRoleBindings: cs.For(api.ClusterRoleBindings.Resource),
	})
}

// cacheObjects reads the policy from watch caches. Its revision is the sum
// of theirs: each only grows, so the sum moves whenever one does.
type cacheObjects struct {
	caches                                                 *store.Caches
	roles, clusterRoles, roleBindings, clusterRoleBindings *store.Cache
}

func (c *cacheObjects) all() [4]*store.Cache {
	return [4]*store.Cache{c.roles, c.clusterRoles, c.roleBindings, c.clusterRoleBindings}
}

func (c *cacheObjects) Revision() int64 {
	var sum int64
	for _, cache := range c.all() {
		sum += cache.Revision()
	}
	return sum
}

func (c *cacheObjects) Synced() bool {
	for _, cache := range c.all() {
		select {
		case <-cache.Synced():
		default:
			return false
		}
	}
	return true
}

func (c *cacheObjects) WaitSynced(ctx context.Context) error {
	for _, cache := range c.all() {
		if err := cache.WaitSynced(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *cacheObjects) Policy() Policy {
	return Policy{
		Roles:               listOf[*rbacv1.Role](c.roles),
		ClusterRoles:        listOf[*rbacv1.ClusterRole](c.clusterRoles),
		RoleBindings:        listOf[*rbacv1.RoleBinding](c.roleBindings),
		ClusterRoleBindings: listOf[*rbacv1.ClusterRoleBinding](c.clusterRoleBindings),
	}
}

func listOf[T store.Object](c *store.Cache) []T {
	objs := c.List("", store.Predicate{})
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
