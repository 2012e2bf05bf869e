package gc

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/controllers/deployment"
	"github.com/shoalmesh/shoal/controlplane/controllers/replicaset"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// startControllers runs a new garbage collector and the Deployment and
// ReplicaSet controllers on caches of their own until the test ends.
func startControllers(e *controllertest.Env) {
	e.Start(func(d controller.Deps) []controller.Controller {
		return []controller.Controller{replicaset.New(d), deployment.New(d), New(d)}
	})
}

func TestGarbageCollectorDeletesDeploymentReplicaSetsAndPods(t *testing.T) {
	e := controllertest.New(t)
	startControllers(e)
	e.Create(registry.Deployments, controllertest.Deployment("web", 3))
	controllertest.Eventually(t, "one replica set of 3 pods", func() (bool, string) {
		var replicas []int32
		for _, rs := range e.ReplicaSets("web") {
			replicas = append(replicas, *rs.Spec.Replicas)
		}
		pods := len(e.Pods("web"))
		return slices.Equal(replicas, []int32{3}) && pods == 3, fmt.Sprintf("replica sets of %v replicas, %d pods", replicas, pods)
	})
	if _, err := e.Reg.Delete(e.Ctx, registry.Deployments, "default", "web", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "replica sets and pods gone", func() (bool, string) {
		rs, pods := len(e.ReplicaSets("web")), len(e.Pods("web"))
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
	e := controllertest.New(t)
	startControllers(e)
	svc := e.Create(registry.Services, gcService("s"))
	e.Create(registry.EndpointSlices, gcSlice("s-1", svc))
	if _, err := e.Reg.Delete(e.Ctx, registry.Services, "default", "s", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "slice gone", func() (bool, string) {
		_, err := e.Reg.Store.Get(e.Ctx, registry.EndpointSlices.Resource, "default", "s-1")
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// Owners count by uid; a dependent with an owner left keeps living without
// the references to the others.
func TestGarbageCollectorJudgesOwnersByUID(t *testing.T) {
	e := controllertest.New(t)
	g := New(controller.Deps{Registry: e.Reg, Caches: e.Caches})
	slices := e.Caches.For(registry.EndpointSlices.Resource)
	collect := func(slice store.Object) {
		t.Helper()
		rev, _ := store.ParseResourceVersion(slice.GetResourceVersion())
		if err := slices.WaitForRevision(e.Ctx, rev); err != nil {
			t.Fatal(err)
		}
		if err := g.sync(e.Ctx, gcKey(registry.EndpointSlices, slice)); err != nil {
			t.Fatalf("collect %s: %v", slice.GetName(), err)
		}
	}
	get := func(name string) (*discoveryv1.EndpointSlice, error) {
		o, err := e.Reg.Store.Get(e.Ctx, registry.EndpointSlices.Resource, "default", name)
		if err != nil {
			return nil, err
		}
		return o.(*discoveryv1.EndpointSlice), nil
	}

	svc := e.Create(registry.Services, gcService("s"))
	owned := e.Create(registry.EndpointSlices, gcSlice("s-1", svc))
	collect(owned)
	if _, err := get("s-1"); err != nil {
		t.Fatalf("a slice of a live service was collected: %v", err)
	}

	// The service deleted and created again under its name is another owner.
	if _, err := e.Reg.Delete(e.Ctx, registry.Services, "default", "s", nil, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := e.Create(registry.Services, gcService("s"))
	collect(owned)
	if _, err := get("s-1"); !apierrors.IsNotFound(err) {
		t.Fatalf("slice owned by a service since recreated: got %v, want it collected", err)
	}

	pod := e.Create(registry.Pods, controllertest.Pod("p", nil))
	both := e.Create(registry.EndpointSlices, gcSlice("s-2", again, pod))
	if _, err := e.Reg.Delete(e.Ctx, registry.Pods, "default", "p", nil, registry.WriteOptions{}); err != nil {
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
	collect(e.Create(registry.EndpointSlices, foreign))
	if _, err := get("s-3"); err != nil {
		t.Fatalf("slice owned by an unknown kind was collected: %v", err)
	}
}
