package registry_test

import (
	"fmt"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

func newRegistry(t *testing.T, e *storetest.Etcd, cidr string) *registry.Registry {
	return registrytest.New(t, e.Client(t), cidr)
}

func svc(ns, name, ip string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Port: 80}}}}
}

// Two API servers on one etcd allocating from a small range at once never
// hand out the same address, and stop cleanly when it is full.
func TestTwoRegistriesNeverShareAClusterIP(t *testing.T) {
	e := storetest.StartEtcd(t)
	regs := []*registry.Registry{newRegistry(t, e, "10.97.0.0/27"), newRegistry(t, e, "10.97.0.0/27")}
	var mu sync.Mutex
	owners := map[string]string{}
	var full int
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			res, err := regs[i%2].Create(t.Context(), registry.Services, svc("default", fmt.Sprint("s", i), ""), registry.WriteOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if !apierrors.IsInternalError(err) {
					t.Errorf("create s%d: %v", i, err)
				}
				full++
				return
			}
			ip := res.Object.(*corev1.Service).Spec.ClusterIP
			if prev, ok := owners[ip]; ok {
				t.Errorf("%s handed out twice: %s and s%d", ip, prev, i)
			}
			owners[ip] = fmt.Sprint("s", i)
		})
	}
	wg.Wait()
	// 32 addresses, less network and broadcast, less 10.97.0.1 and
	// 10.97.0.10 (the kubernetes and kube-dns services, created by
	// Bootstrap) = 28 for the test.
	if len(owners) != 28 || full != 12 {
		t.Fatalf("allocated %d addresses with %d range-full errors, want 28 and 12", len(owners), full)
	}
	// A deleted service's address can be taken again.
	var freed string
	for ip, name := range owners {
		if _, err := regs[0].Delete(t.Context(), registry.Services, "default", name, nil, registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		freed = ip
		break
	}
	if _, err := regs[1].Create(t.Context(), registry.Services, svc("default", "again", freed), registry.WriteOptions{}); err != nil {
		t.Fatalf("re-use a released ClusterIP: %v", err)
	}
}

func TestRequestedClusterIP(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "10.96.0.0/16")
	ctx := t.Context()
	if _, err := r.Create(ctx, registry.Services, svc("default", "dns", "10.96.0.20"), registry.WriteOptions{}); err != nil {
		t.Fatalf("requested free IP: %v", err)
	}
	for _, c := range []struct{ name, ip, want string }{
		{"taken", "10.96.0.20", "provided IP is already allocated"},
		{"kube-dns-ip", "10.96.0.10", "provided IP is already allocated"},
		{"outside", "10.1.0.10", "provided IP is not in the valid range"},
		{"network", "10.96.0.0", "provided IP is not in the valid range"},
	} {
		_, err := r.Create(ctx, registry.Services, svc("default", c.name, c.ip), registry.WriteOptions{})
		if !apierrors.IsInvalid(err) || !contains(err.Error(), c.want) || !contains(err.Error(), "spec.clusterIP") {
			t.Errorf("%s: got %v, want Invalid spec.clusterIP %q", c.name, err, c.want)
		}
		if _, err := r.Store.Get(ctx, registry.Services.Resource, "default", c.name); !apierrors.IsNotFound(err) {
			t.Errorf("%s: refused service was stored", c.name)
		}
	}
	// Headless services get no address; ExternalName neither.
	res, err := r.Create(ctx, registry.Services, svc("default", "headless", "None"), registry.WriteOptions{})
	if err != nil || res.Object.(*corev1.Service).Spec.ClusterIP != "None" {
		t.Fatalf("headless: %v %v", err, res.Object)
	}
}

func TestUpdateKeepsServerFieldsAndBumpsGeneration(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "10.96.0.0/16")
	ctx := t.Context()
	two := int32(2)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Command: []string{"/bin/true"}}}}}}}
	res, err := r.Create(ctx, registry.Deployments, d, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := res.Object.(*appsv1.Deployment)
	if created.UID == "" || created.Generation != 1 || created.CreationTimestamp.IsZero() {
		t.Fatalf("server fields not set on create: %+v", created.ObjectMeta)
	}
	update := func(sub string, f func(*appsv1.Deployment)) *appsv1.Deployment {
		res, err := r.Update(ctx, registry.Deployments, "default", "web", sub, func(cur store.Object) (store.Object, error) {
			c := cur.(*appsv1.Deployment)
			c.UID = "forged"
			c.ResourceVersion = ""
			f(c)
			return c, nil
		}, registry.WriteOptions{})
		if err != nil {
			t.Fatalf("update %q: %v", sub, err)
		}
		return res.Object.(*appsv1.Deployment)
	}
	// A label change is not a spec change.
	got := update("", func(d *appsv1.Deployment) { d.Labels = map[string]string{"a": "b"}; d.Status.Replicas = 7 })
	if got.Generation != 1 || got.UID != created.UID || got.Status.Replicas != 0 {
		t.Fatalf("label update: generation %d uid %s status.replicas %d; want 1, %s, 0 (status is only written through /status)", got.Generation, got.UID, got.Status.Replicas, created.UID)
	}
	three := int32(3)
	got = update("", func(d *appsv1.Deployment) { d.Spec.Replicas = &three })
	if got.Generation != 2 {
		t.Fatalf("spec update: generation %d, want 2", got.Generation)
	}
	got = update("status", func(d *appsv1.Deployment) { d.Status.Replicas = 3; d.Spec.Replicas = &two })
	if got.Status.Replicas != 3 || *got.Spec.Replicas != 3 || got.Generation != 2 {
		t.Fatalf("status update changed more than status: %+v gen %d", got.Spec.Replicas, got.Generation)
	}
	// An update that changes nothing is not written.
	rv := got.ResourceVersion
	if got = update("", func(*appsv1.Deployment) {}); got.ResourceVersion != rv {
		t.Fatalf("no-op update wrote a new revision %s (was %s)", got.ResourceVersion, rv)
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "10.96.0.0/16")
	ctx := t.Context()
	if _, err := r.Create(ctx, registry.Services, svc("nowhere", "a", ""), registry.WriteOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("create in a missing namespace: got %v, want NotFound", err)
	}
	if _, err := r.Delete(ctx, registry.Namespaces, "", "default", nil, registry.WriteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("delete default namespace: got %v, want Forbidden", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	if _, err := r.Create(ctx, registry.Namespaces, ns, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Create(ctx, registry.Services, svc("shop", "web", ""), registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := res.Object.(*corev1.Service).Spec.ClusterIP
	obj, err := r.Delete(ctx, registry.Namespaces, "", "shop", nil, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if obj.(*corev1.Namespace).Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("deleted namespace phase %q, want Terminating", obj.(*corev1.Namespace).Status.Phase)
	}
	if _, err := r.Create(ctx, registry.Services, svc("shop", "late", ""), registry.WriteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("create in a terminating namespace: got %v, want Forbidden", err)
	}
	// The finalizer runs in Run; a sweep is what a restarted server does.
	go r.Run(ctx, mustAddrPort("127.0.0.1:6443"))
	waitGone(t, r, registry.Namespaces, "", "shop")
	waitGone(t, r, registry.Services, "shop", "web")
	// Its ClusterIP was released with it.
	if _, err := r.Create(ctx, registry.Services, svc("default", "reuse", ip), registry.WriteOptions{}); err != nil {
		t.Fatalf("re-use the ClusterIP of a service deleted with its namespace: %v", err)
	}
}
