package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// Reconcile on a real etcd: it creates the policy, fills the aggregated
// roles, puts back what an operator removed from an autoupdate role (keeping
// what they added), leaves an autoupdate=false role alone, and a second
// run writes nothing.
func TestReconcile(t *testing.T) {
	reg := registrytest.New(t, storetest.StartEtcd(t).Client(t), "")
	ctx := t.Context()
	if err := Reconcile(ctx, reg); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *rbacv1.ClusterRole {
		t.Helper()
		o, err := reg.Store.Get(ctx, registry.ClusterRoles.Resource, "", name)
		if err != nil {
			t.Fatal(err)
		}
		return o.(*rbacv1.ClusterRole)
	}
	policy := func() Policy {
		t.Helper()
		var p Policy
		for _, r := range list(t, reg, registry.ClusterRoles) {
			p.ClusterRoles = append(p.ClusterRoles, r.(*rbacv1.ClusterRole))
		}
		for _, b := range list(t, reg, registry.ClusterRoleBindings) {
			p.ClusterRoleBindings = append(p.ClusterRoleBindings, b.(*rbacv1.ClusterRoleBinding))
		}
		return p
	}
	if n := len(policy().ClusterRoles); n != len(ClusterRoles()) {
		t.Errorf("%d clusterroles, want %d", n, len(ClusterRoles()))
	}
	z := &auth.Authorizer{RBAC: NewStatic(policy())}
	viewer := user("viewer", auth.GroupViewers)
	if !z.Authorize(auth.Attributes{User: viewer, Verb: "list", Resource: "pods", Namespace: "x"}).Allowed {
		t.Error("view was not aggregated at start: a viewer cannot list pods")
	}
	rev := get("edit").ResourceVersion

	// An operator trims view's source role and adds a rule; another opts
	// system:monitoring out of updates and empties it.
	trimmed := get("system:aggregate-to-view")
	extra := rbacv1.PolicyRule{APIGroups: []string{"example.io"}, Resources: []string{"widgets"}, Verbs: []string{"get"}}
	trimmed.Rules = append(trimmed.Rules[1:], extra)
	mustUpdate(t, reg, registry.ClusterRoles, trimmed)
	frozen := get("system:monitoring")
	frozen.Annotations[rbacv1.AutoUpdateAnnotationKey] = "false"
	frozen.Rules = nil
	mustUpdate(t, reg, registry.ClusterRoles, frozen)
	if _, err := reg.Delete(ctx, registry.ClusterRoleBindings, "", "system:discovery", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := Reconcile(ctx, reg); err != nil {
		t.Fatal(err)
	}
	restored := get("system:aggregate-to-view")
	if ok, missing := coversAll(restored.Rules, defaultRole(t, "system:aggregate-to-view").Rules); !ok {
		t.Errorf("system:aggregate-to-view still lacks %v", missing)
	}
	if ok, _ := coversAll(restored.Rules, []rbacv1.PolicyRule{extra}); !ok {
		t.Error("the operator's rule was removed")
	}
	if ok, _ := coversAll(get("view").Rules, []rbacv1.PolicyRule{extra}); !ok {
		t.Error("view did not pick up the operator's rule")
	}
	if r := get("system:monitoring"); len(r.Rules) != 0 {
		t.Errorf("autoupdate=false role was changed: %v", r.Rules)
	}
	if _, err := reg.Store.Get(ctx, registry.ClusterRoleBindings.Resource, "", "system:discovery"); err != nil {
		t.Errorf("deleted default binding not made again: %v", err)
	}

	if err := Reconcile(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if got := get("edit").ResourceVersion; got == rev {
		t.Error("edit was not re-aggregated after view changed")
	}
	before := policy()
	if err := Reconcile(ctx, reg); err != nil {
		t.Fatal(err)
	}
	for i, r := range policy().ClusterRoles {
		if r.ResourceVersion != before.ClusterRoles[i].ResourceVersion {
			t.Errorf("a reconcile with nothing to do rewrote %s", r.Name)
		}
	}
}

func list(t *testing.T, reg *registry.Registry, info *registry.Info) []store.Object {
	t.Helper()
	res, err := reg.Store.List(t.Context(), info.Resource, "", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

func mustUpdate(t *testing.T, reg *registry.Registry, info *registry.Info, obj store.Object) {
	t.Helper()
	if _, err := update(t.Context(), reg, info, obj); err != nil {
		t.Fatal(err)
	}
}

func defaultRole(t *testing.T, name string) *rbacv1.ClusterRole {
	t.Helper()
	for _, r := range ClusterRoles() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no default clusterrole %s", name)
	return nil
}
