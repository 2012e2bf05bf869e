package registry_test

import (
	"strings"
	"sync"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

func pendingPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"/bin/true"}}}}}
}

func binding(pod, node string) *corev1.Binding {
	return &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: pod}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
}

func TestBind(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "")
	res, err := r.Create(t.Context(), registry.Pods, pendingPod("p"), registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := res.Object.(*corev1.Pod)

	b := binding("p", "node-1")
	b.Annotations = map[string]string{"scheduler.example/why": "least loaded"}
	pod, err := r.Bind(t.Context(), b, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeName != "node-1" || pod.Annotations["scheduler.example/why"] != "least loaded" || pod.ResourceVersion == created.ResourceVersion {
		t.Fatalf("bound pod: node %q annotations %v rv %s", pod.Spec.NodeName, pod.Annotations, pod.ResourceVersion)
	}
	var cond *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			cond = &pod.Status.Conditions[i]
		}
	}
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.LastTransitionTime.IsZero() {
		t.Fatalf("PodScheduled condition after binding: %+v", cond)
	}

	tests := []struct {
		name  string
		b     *corev1.Binding
		check func(error) bool
		want  string
	}{
		{"already bound", binding("p", "node-2"), apierrors.IsConflict, `pod p is already assigned to node "node-1"`},
		{"gone", binding("nope", "node-1"), apierrors.IsNotFound, `pods "nope" not found`},
		{"no node", binding("p", ""), apierrors.IsInvalid, "target.name: Required value"},
		{"bad node name", binding("p", "Node_1"), apierrors.IsInvalid, "target.name: Invalid value"},
		{"not a node", &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p"}, Target: corev1.ObjectReference{Kind: "Pod", Name: "x"}},
			apierrors.IsInvalid, `target.kind: Unsupported value: "Pod"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Bind(t.Context(), tt.b, registry.WriteOptions{})
			if !tt.check(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Bind = %v; want an error containing %q", err, tt.want)
			}
		})
	}

	t.Run("another pod under the name", func(t *testing.T) {
		if _, err := r.Create(t.Context(), registry.Pods, pendingPod("q"), registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		b := binding("q", "node-1")
		b.UID = "not-its-uid"
		if _, err := r.Bind(t.Context(), b, registry.WriteOptions{}); !apierrors.IsConflict(err) {
			t.Fatalf("Bind with another pod's UID = %v; want 409", err)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		p, err := r.Bind(t.Context(), binding("q", "node-1"), registry.WriteOptions{DryRun: true})
		if err != nil || p.Spec.NodeName != "node-1" {
			t.Fatalf("dry-run Bind = %v, %v", p, err)
		}
		cur, _ := r.Store.Get(t.Context(), registry.Pods.Resource, "default", "q")
		if cur.(*corev1.Pod).Spec.NodeName != "" {
			t.Fatal("a dry-run binding was stored")
		}
	})
}

// Of many schedulers binding one pod at once, exactly one wins.
func TestBindRace(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "")
	if _, err := r.Create(t.Context(), registry.Pods, pendingPod("p"), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var won []string
	var wg sync.WaitGroup
	for _, node := range []string{"a", "b", "c", "d", "e", "f"} {
		wg.Go(func() {
			_, err := r.Bind(t.Context(), binding("p", node), registry.WriteOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, node)
			case !apierrors.IsConflict(err):
				t.Errorf("bind to %s: %v; want success or 409", node, err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("bindings that succeeded: %v; want exactly one", won)
	}
}

func TestLeaseLoadReportValidated(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "")
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: "node-1",
		Annotations: map[string]string{"shoal.io/load": `{"cpu":-2}`}}}
	_, err := r.Create(t.Context(), registry.Leases, lease, registry.WriteOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.annotations[shoal.io/load]") || !strings.Contains(err.Error(), "cpu -2") {
		t.Fatalf("create with a bad load report: %v; want 422 naming the annotation", err)
	}
	lease.Annotations["shoal.io/load"] = `{"cpu":1.5,"memory":1073741824,"pods":3}`
	if _, err := r.Create(t.Context(), registry.Leases, lease, registry.WriteOptions{}); err != nil {
		t.Fatalf("create with a good load report: %v", err)
	}
}
