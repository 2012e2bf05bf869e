package rootca

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

const ca = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

func rootCA(e *controllertest.Env, ns string) (*corev1.ConfigMap, bool) {
	o, err := e.Reg.Store.Get(e.Ctx, registry.ConfigMaps.Resource, ns, "kube-root-ca.crt")
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		e.T.Fatal(err)
	}
	return o.(*corev1.ConfigMap), true
}

func published(e *controllertest.Env, ns string) func() (bool, string) {
	return func() (bool, string) {
		cm, ok := rootCA(e, ns)
		if !ok {
			return false, "missing"
		}
		if cm.Data["ca.crt"] != ca || len(cm.Data) != 1 || cm.Annotations[DescriptionAnnotation] != Description {
			return false, "data " + cm.Data["ca.crt"] + ", annotation " + cm.Annotations[DescriptionAnnotation]
		}
		return true, ""
	}
}

// TestPublishesTheCA: kube-root-ca.crt is in every namespace with the CA,
// and comes back when deleted or edited.
func TestPublishesTheCA(t *testing.T) {
	e := controllertest.New(t)
	e.Start(func(d controller.Deps) []controller.Controller {
		d.RootCA = []byte(ca)
		return []controller.Controller{New(d)}
	})
	e.Create(registry.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	for _, ns := range []string{"default", "kube-system", "shop"} {
		controllertest.Eventually(t, "kube-root-ca.crt in "+ns, published(e, ns))
	}

	_, err := e.Reg.Update(e.Ctx, registry.ConfigMaps, "shop", "kube-root-ca.crt", "", func(o store.Object) (store.Object, error) {
		cm := o.(*corev1.ConfigMap)
		cm.Data = map[string]string{"ca.crt": "tampered", "extra": "x"}
		delete(cm.Annotations, DescriptionAnnotation)
		cm.ResourceVersion = ""
		return cm, nil
	}, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the CA put back", published(e, "shop"))

	if _, err := e.Reg.Delete(e.Ctx, registry.ConfigMaps, "shop", "kube-root-ca.crt", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the CA made again", published(e, "shop"))
}
