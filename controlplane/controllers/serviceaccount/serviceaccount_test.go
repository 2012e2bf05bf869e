package serviceaccount

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

func defaultAccount(e *controllertest.Env, ns string) (*corev1.ServiceAccount, bool) {
	o, err := e.Reg.Store.Get(e.Ctx, registry.ServiceAccounts.Resource, ns, "default")
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		e.T.Fatal(err)
	}
	return o.(*corev1.ServiceAccount), true
}

// TestDefaultServiceAccount: every namespace, existing and new, gets a
// "default" ServiceAccount, and gets it back when it is deleted.
func TestDefaultServiceAccount(t *testing.T) {
	e := controllertest.New(t)
	// One made by hand before the controller starts is left as it is.
	mine := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-public", Name: "default", Labels: map[string]string{"mine": "yes"}}}
	e.Create(registry.ServiceAccounts, mine)
	e.Start(func(d controller.Deps) []controller.Controller { return []controller.Controller{New(d)} })
	e.Create(registry.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})

	for _, ns := range []string{"default", "kube-system", "kube-node-lease", "shop"} {
		controllertest.Eventually(t, "default account in "+ns, func() (bool, string) {
			_, ok := defaultAccount(e, ns)
			return ok, "missing"
		})
	}
	if sa, _ := defaultAccount(e, "kube-public"); sa.Labels["mine"] != "yes" {
		t.Errorf("an existing default account was replaced: %+v", sa.ObjectMeta)
	}

	before, _ := defaultAccount(e, "shop")
	if _, err := e.Reg.Delete(e.Ctx, registry.ServiceAccounts, "shop", "default", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "default account made again", func() (bool, string) {
		sa, ok := defaultAccount(e, "shop")
		return ok && sa.UID != before.UID, "missing or the old one"
	})
	// Other accounts are not the controller's business.
	e.Create(registry.ServiceAccounts, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "builder"}})
	if _, err := e.Reg.Delete(e.Ctx, registry.ServiceAccounts, "shop", "builder", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}
