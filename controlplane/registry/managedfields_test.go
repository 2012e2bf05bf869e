package registry_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "web", Command: []string{"/bin/true"}, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
			{Name: "side", Command: []string{"/bin/true"}, Env: []corev1.EnvVar{{Name: "A", Value: "1"}}},
		}}}
}

// managersOf lists entries as manager/operation/subresource.
func managersOf(entries []metav1.ManagedFieldsEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s/%s/%s", e.Manager, e.Operation, e.Subresource))
	}
	return out
}

// Writes of the registry's callers are recorded under their manager (or
// ControllerManager); a write that changes nothing stays unwritten, so
// managedFields cost no writes of their own; one manager's many writes
// stay one entry.
func TestManagedFieldsOfWrites(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "10.96.0.0/16")
	ctx := t.Context()
	res, err := r.Create(ctx, registry.Pods, pod("p"), registry.WriteOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(managersOf(res.Object.GetManagedFields())); got != "[creator/Update/]" {
		t.Fatalf("after create: %s", got)
	}
	setPhase := func(phase corev1.PodPhase) store.Object {
		res, err := r.Update(ctx, registry.Pods, "default", "p", "status", func(cur store.Object) (store.Object, error) {
			p := cur.(*corev1.Pod)
			p.Status.Phase = phase
			p.ResourceVersion = ""
			return p, nil
		}, registry.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Object
	}
	first := setPhase(corev1.PodRunning)
	if got := fmt.Sprint(managersOf(first.GetManagedFields())); got != "[creator/Update/ "+registry.ControllerManager+"/Update/status]" {
		t.Fatalf("after a status write: %s", got)
	}
	if again := setPhase(corev1.PodRunning); again.GetResourceVersion() != first.GetResourceVersion() {
		t.Errorf("a status write that changes nothing was written: resourceVersion %s → %s", first.GetResourceVersion(), again.GetResourceVersion())
	}
	for _, phase := range []corev1.PodPhase{corev1.PodSucceeded, corev1.PodFailed, corev1.PodRunning, corev1.PodSucceeded} {
		setPhase(phase)
	}
	last := setPhase(corev1.PodFailed)
	if n := len(last.GetManagedFields()); n != 2 {
		t.Errorf("after 6 status writes: %d entries %v, want 2", n, managersOf(last.GetManagedFields()))
	}
}

// Apply creates what does not exist, and a configuration that no longer
// names a field removes it.
func TestApplyCreatesAndRemoves(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "10.96.0.0/16")
	apply := func(data map[string]any) *corev1.ConfigMap {
		t.Helper()
		res, err := r.Apply(t.Context(), registry.ApplyRequest{Info: registry.ConfigMaps, GroupVersion: registry.ConfigMaps.GroupVersion,
			Namespace: "default", Name: "c", Manager: "m", Patch: &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}, "data": data}}}, registry.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Object.(*corev1.ConfigMap)
	}
	if cm := apply(map[string]any{"a": "1", "b": "2"}); len(cm.Data) != 2 || managersOf(cm.ManagedFields)[0] != "m/Apply/" {
		t.Fatalf("created by apply: data %v, managers %v", cm.Data, managersOf(cm.ManagedFields))
	}
	if cm := apply(map[string]any{"a": "1"}); len(cm.Data) != 1 || cm.Data["a"] != "1" {
		t.Errorf("after b left the configuration: %v", cm.Data)
	}
}

// An applied Secret whose values do not fit the schema is a 400 naming
// the field and the kind of value it got, never the value: the field
// manager's own message prints it.
func TestApplyErrorsHideValues(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "10.96.0.0/16")
	const secret = "hunter2-s3cret"
	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"number in data", map[string]any{"data": map[string]any{"k": int64(20260112)}}, ".data.k: expected string, got a number"},
		{"object in stringData", map[string]any{"stringData": map[string]any{"k": map[string]any{"x": secret}}}, ".stringData.k: expected string, got an object"},
		{"list in stringData", map[string]any{"stringData": map[string]any{"k": []any{secret + "\nline 2"}}}, ".stringData.k: expected string, got a list"},
		{"string for stringData", map[string]any{"stringData": secret}, ".stringData: expected map, got a string"},
		{"list for data", map[string]any{"data": []any{secret}}, ".data: expected map, got a list"},
		{"string for immutable", map[string]any{"stringData": map[string]any{"k": secret}, "immutable": secret}, ".immutable: expected boolean, got a string"},
		{"two errors", map[string]any{"stringData": map[string]any{"a": []any{secret}, "b": map[string]any{"c": secret}}},
			".stringData.a: expected string, got a list; .stringData.b: expected string, got an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"}}
			for k, v := range tc.body {
				obj[k] = v
			}
			_, err := r.Apply(t.Context(), registry.ApplyRequest{Info: registry.Secrets, GroupVersion: registry.Secrets.GroupVersion,
				Namespace: "default", Name: "s", Manager: "m", Patch: &unstructured.Unstructured{Object: obj}}, registry.WriteOptions{})
			if !apierrors.IsBadRequest(err) {
				t.Fatalf("apply: %v, want a 400", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "the applied v1 Secret does not match its schema") {
				t.Errorf("error %q lacks %q", msg, tc.want)
			}
			for _, leak := range []string{secret, "20260112", "valueUnstructured"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error shows %q: %s", leak, msg)
				}
			}
		})
	}
	if _, err := r.Store.Get(t.Context(), registry.Secrets.Resource, "default", "s"); !apierrors.IsNotFound(err) {
		t.Errorf("a refused apply left a Secret: %v", err)
	}
}

// BenchmarkManagedFieldsStatusWrite is the cost of a controller's status
// write of a two-container pod, managedFields included: the API write cost
// the field manager adds.
func BenchmarkManagedFieldsStatusWrite(b *testing.B) {
	e := storetest.StartEtcd(b)
	r := registrytest.New(b, e.Client(b), "")
	ctx := b.Context()
	if _, err := r.Create(ctx, registry.Pods, pod("p"), registry.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	phases := []corev1.PodPhase{corev1.PodRunning, corev1.PodPending}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := r.Update(ctx, registry.Pods, "default", "p", "status", func(cur store.Object) (store.Object, error) {
			p := cur.(*corev1.Pod)
			p.Status.Phase = phases[i%2]
			p.ResourceVersion = ""
			return p, nil
		}, registry.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
