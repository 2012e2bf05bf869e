package controllers

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

func TestGarbageCollectorDeletesDeploymentReplicaSetsAndPods(t *testing.T) {
	e := newAppsEnv(t)
	e.startControllers()
	e.create(registry.Deployments, appsDeployment("web", 3))
	e.waitReplicaSets("web", "1:3")
	if _, err := e.reg.Delete(e.ctx, registry.Deployments, "default", "web", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyApps(t, "replica sets and pods gone", func() (bool, string) {
		rs, pods := len(e.replicaSets("web")), len(e.pods("web"))
		return rs == 0 && pods == 0, fmt.Sprintf("%d replica sets, %d pods", rs, pods)
	})
}

func gcService(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
}

func gcSlice(name string, owners ...store.Object) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: "s"}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i, o := range owners {
		gvk := o.GetObjectKind().GroupVersionKind()
		s.OwnerReferences = append(s.OwnerReferences, metav1.OwnerReference{
			APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: o.GetName(), UID: o.GetUID(), Controller: new(i == 0)})
	}
	return s
}

func TestGarbageCollectorDeletesSlicesOfADeletedService(t *testing.T) {
	e := newAppsEnv(t)
	e.startControllers()
	svc := e.create(registry.Services, gcService("s"))
	e.create(registry.EndpointSlices, gcSlice("s-1", svc))
	if _, err := e.reg.Delete(e.ctx, registry.Services, "default", "s", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyApps(t, "slice gone", func() (bool, string) {
		_, err := e.reg.Store.Get(e.ctx, registry.EndpointSlices.Resource, "default", "s-1")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// Owners count by uid; a dependent with an owner left keeps living without
// the references to the others.
func TestGarbageCollectorJudgesOwnersByUID(t *testing.T) {
	e := newAppsEnv(t)
	g := NewGarbageCollector(Deps{Registry: e.reg, Caches: e.caches})
	slices := e.caches.For(registry.EndpointSlices.Resource)
	collect := func(slice store.Object) {
		t.Helper()
		rev, _ := store.ParseResourceVersion(slice.GetResourceVersion())
		if err := slices.WaitForRevision(e.ctx, rev); err != nil {
			t.Fatal(err)
		}
		if err := g.sync(e.ctx, gcKey(registry.EndpointSlices, slice)); err != nil {
			t.Fatalf("collect %s: %v", slice.GetName(), err)
		}
	}
	get := func(name string) (*discoveryv1.EndpointSlice, error) {
		o, err := e.reg.Store.Get(e.ctx, registry.EndpointSlices.Resource, "default", name)
		if err != nil {
			return nil, err
		}
		return o.(*discoveryv1.EndpointSlice), nil
	}

	svc := e.create(registry.Services, gcService("s"))
	owned := e.create(registry.EndpointSlices, gcSlice("s-1", svc))
	collect(owned)
	if _, err := get("s-1"); err != nil {
		t.Fatalf("a slice of a live service was collected: %v", err)
	}

	// The service deleted and created again under its name is another owner.
	if _, err := e.reg.Delete(e.ctx, registry.Services, "default", "s", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := e.create(registry.Services, gcService("s"))
	collect(owned)
	if _, err := get("s-1"); !apierrors.IsNotFound(err) {
		t.Fatalf("slice owned by a service since recreated: got %v, want it collected", err)
	}

	pod := e.create(registry.Pods, appsPod("p", nil))
	both := e.create(registry.EndpointSlices, gcSlice("s-2", again, pod))
	if _, err := e.reg.Delete(e.ctx, registry.Pods, "default", "p", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	collect(both)
	left, err := get("s-2")
	if err != nil {
		t.Fatalf("slice with a live owner was collected: %v", err)
	}
	if refs := left.OwnerReferences; len(refs) != 1 || refs[0].UID != again.GetUID() {
		t.Fatalf("owner references %+v, want only the live service", refs)
	}

	// An owner of a kind Shoal does not serve is assumed to exist.
	foreign := gcSlice("s-3")
	foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "123"}}
	collect(e.create(registry.EndpointSlices, foreign))
	if _, err := get("s-3"); err != nil {
		t.Fatalf("slice owned by an unknown kind was collected: %v", err)
	}
}
