package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-helpers/auth/rbac/reconciliation"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Reconcile makes the stored policy hold the bootstrap policy, as
// kube-apiserver does at every start: a missing default role or binding is
// created; an existing one annotated rbac.authorization.kubernetes.io/
// autoupdate=true gets the rules, selectors and subjects it lacks (and
// keeps the ones an operator added); one annotated "false" is left alone.
// Then it fills the aggregated roles (admin, edit, view), so that they
// grant their rules from the first request on; the aggregation controller
// keeps them current after that. It is safe to run from several API
// servers at once.
func Reconcile(ctx context.Context, reg *registry.Registry) error {
	roles := registryClusterRoles{ctx, reg}
	for _, role := range ClusterRoles() {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			_, err := (&reconciliation.ReconcileRoleOptions{
				Role:   reconciliation.ClusterRoleRuleOwner{ClusterRole: role.DeepCopy()},
				Client: roles, Confirm: true,
			}).Run()
			return err
		})
		if err != nil {
			return fmt.Errorf("reconcile clusterrole %s: %w", role.Name, err)
		}
	}
	bindings := registryClusterRoleBindings{ctx, reg}
	for _, b := range ClusterRoleBindings() {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			_, err := (&reconciliation.ReconcileRoleBindingOptions{
				RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: b.DeepCopy()},
				Client:      bindings, Confirm: true,
			}).Run()
			return err
		})
		if err != nil {
			return fmt.Errorf("reconcile clusterrolebinding %s: %w", b.Name, err)
		}
	}
	return aggregateAll(ctx, reg)
}

// aggregateAll fills every aggregated ClusterRole from the stored ones. An
// aggregated role may pick another (admin picks edit, which picks view), so
// it goes round until a pass changes nothing.
func aggregateAll(ctx context.Context, reg *registry.Registry) error {
	for pass := 0; pass < maxAggregationPasses; pass++ {
		res, err := reg.Store.List(ctx, registry.ClusterRoles.Resource, "", store.ListOptions{})
		if err != nil {
			return fmt.Errorf("list clusterroles: %w", err)
		}
		all := make([]*rbacv1.ClusterRole, 0, len(res.Items))
		for _, o := range res.Items {
			all = append(all, o.(*rbacv1.ClusterRole))
		}
		changed := false
		for _, role := range all {
			wrote, err := Aggregate(ctx, reg, role, all)
			if err != nil {
				return err
			}
			changed = changed || wrote != nil
		}
		if !changed {
			return nil
		}
	}
	return fmt.Errorf("aggregate clusterroles: still changing after %d passes (do aggregated roles pick each other?)", maxAggregationPasses)
}

// maxAggregationPasses bounds aggregateAll: more than the depth of any sane
// chain of aggregated roles (the default one is 3 deep).
const maxAggregationPasses = 8

// Aggregate writes role's aggregated rules (AggregatedRules over all) if
// they differ from what it holds, and returns the role written (nil if
// there was nothing to write). The write is a compare-and-swap on the role
// as given: a Conflict means role changed meanwhile.
func Aggregate(ctx context.Context, reg *registry.Registry, role *rbacv1.ClusterRole, all []*rbacv1.ClusterRole) (store.Object, error) {
	rules, ok, err := AggregatedRules(role, all)
	if err != nil || !ok || equality.Semantic.DeepEqual(rules, role.Rules) {
		return nil, err
	}
	res, err := reg.Update(ctx, registry.ClusterRoles, "", role.Name, "", func(cur store.Object) (store.Object, error) {
		next := role.DeepCopy()
		next.Rules = rules
		return next, nil
	}, registry.WriteOptions{})
	if err != nil {
		return nil, fmt.Errorf("aggregate clusterrole %s: %w", role.Name, err)
	}
	return res.Object, nil
}

// registryClusterRoles is reconciliation's view of the ClusterRoles: the
// registry's, so the same defaulting and validation apply as to any write.
type registryClusterRoles struct {
	ctx context.Context
	reg *registry.Registry
}

func (c registryClusterRoles) Get(_, name string) (reconciliation.RuleOwner, error) {
	o, err := c.reg.Store.Get(c.ctx, registry.ClusterRoles.Resource, "", name)
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleRuleOwner{ClusterRole: o.(*rbacv1.ClusterRole)}, nil
}

func (c registryClusterRoles) Create(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	res, err := c.reg.Create(c.ctx, registry.ClusterRoles, in.GetObject().(*rbacv1.ClusterRole), registry.WriteOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleRuleOwner{ClusterRole: res.Object.(*rbacv1.ClusterRole)}, nil
}

func (c registryClusterRoles) Update(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	res, err := update(c.ctx, c.reg, registry.ClusterRoles, in.GetObject().(store.Object))
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleRuleOwner{ClusterRole: res.(*rbacv1.ClusterRole)}, nil
}

// registryClusterRoleBindings is reconciliation's view of the
// ClusterRoleBindings.
type registryClusterRoleBindings struct {
	ctx context.Context
	reg *registry.Registry
}

func (c registryClusterRoleBindings) Get(_, name string) (reconciliation.RoleBinding, error) {
	o, err := c.reg.Store.Get(c.ctx, registry.ClusterRoleBindings.Resource, "", name)
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: o.(*rbacv1.ClusterRoleBinding)}, nil
}

func (c registryClusterRoleBindings) Create(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	res, err := c.reg.Create(c.ctx, registry.ClusterRoleBindings, in.GetObject().(*rbacv1.ClusterRoleBinding), registry.WriteOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: res.Object.(*rbacv1.ClusterRoleBinding)}, nil
}

func (c registryClusterRoleBindings) Update(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	res, err := update(c.ctx, c.reg, registry.ClusterRoleBindings, in.GetObject().(store.Object))
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: res.(*rbacv1.ClusterRoleBinding)}, nil
}

// Delete removes a binding whose roleRef must change (which an update may
// not do), so that it can be made anew.
func (c registryClusterRoleBindings) Delete(_, name string, uid types.UID) error {
	_, err := c.reg.Delete(c.ctx, registry.ClusterRoleBindings, "", name, &store.Preconditions{UID: string(uid)}, registry.WriteOptions{})
	return err
}

// update writes obj over the stored object, a compare-and-swap on obj's
// resourceVersion.
func update(ctx context.Context, reg *registry.Registry, info *registry.Info, obj store.Object) (store.Object, error) {
	res, err := reg.Update(ctx, info, obj.GetNamespace(), obj.GetName(), "", func(store.Object) (store.Object, error) {
		return obj.DeepCopyObject().(store.Object), nil
	}, registry.WriteOptions{})
	return res.Object, err
}
