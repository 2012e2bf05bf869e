package clusterroleaggregation

import (
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/auth/rbac/validation"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/rbac"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// On a real etcd with the default policy: a ClusterRole labelled
// aggregate-to-view reaches view, edit and admin (view is in edit, edit in
// admin); changing it changes them; deleting it takes its rules away.
func TestAggregation(t *testing.T) {
	e := controllertest.New(t)
	if err := rbac.Reconcile(e.Ctx, e.Reg); err != nil {
		t.Fatal(err)
	}
	e.Start(func(d controller.Deps) []controller.Controller { return []controller.Controller{New(d)} })

	widgets := rbacv1.PolicyRule{APIGroups: []string{"example.io"}, Resources: []string{"widgets"}, Verbs: []string{"get", "list"}}
	gadgets := rbacv1.PolicyRule{APIGroups: []string{"example.io"}, Resources: []string{"gadgets"}, Verbs: []string{"get"}}
	crd := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets-view", Labels: map[string]string{rbac.AggregateToView: "true"}},
		Rules:      []rbacv1.PolicyRule{widgets},
	}
	if _, err := e.Reg.Create(e.Ctx, registry.ClusterRoles, crd, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoles(t, e, []string{"view", "edit", "admin"}, func(rules []rbacv1.PolicyRule) bool { return covers(rules, widgets) })

	_, err := e.Reg.Update(e.Ctx, registry.ClusterRoles, "", crd.Name, "", func(cur store.Object) (store.Object, error) {
		cur.(*rbacv1.ClusterRole).Rules = []rbacv1.PolicyRule{gadgets}
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitRoles(t, e, []string{"view", "edit", "admin"}, func(rules []rbacv1.PolicyRule) bool {
		return covers(rules, gadgets) && !covers(rules, widgets)
	})

	if _, err := e.Reg.Delete(e.Ctx, registry.ClusterRoles, "", crd.Name, nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoles(t, e, []string{"view", "admin"}, func(rules []rbacv1.PolicyRule) bool { return !covers(rules, gadgets) })
}

func covers(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	ok, _ := validation.Covers(rules, []rbacv1.PolicyRule{r})
	return ok
}

func waitRoles(t *testing.T, e *controllertest.Env, names []string, ok func([]rbacv1.PolicyRule) bool) {
	t.Helper()
	for _, name := range names {
		controllertest.Eventually(t, "clusterrole "+name+" aggregated", func() (bool, string) {
			o, err := e.Reg.Store.Get(e.Ctx, registry.ClusterRoles.Resource, "", name)
			if err != nil {
				return false, err.Error()
			}
			rules := o.(*rbacv1.ClusterRole).Rules
			return ok(rules), fmt.Sprintf("%d rules", len(rules))
		})
	}
}
