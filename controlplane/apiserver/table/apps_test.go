package table

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func ptr[T any](v T) *T { return &v }

func webTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
	}
}

// webDeployment is rolling out: 3 wanted, 3 updated, 2 ready and available.
func webDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(5 * time.Hour), Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: webTemplate(),
		},
		Status: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2},
	}
}

func webReplicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c8f6", Namespace: "default", CreationTimestamp: ago(5 * time.Hour), Labels: map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6"}},
			Template: webTemplate(),
		},
		Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2},
	}
}

func TestDeploymentRows(t *testing.T) {
	tests := []struct {
		name string
		d    func() *appsv1.Deployment
		want []any // NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR
	}{
		{"rolling out", webDeployment, []any{"web", "2/3", int64(3), int64(2), "5h", "web", "nginx:1.27", "app=web"}},
		{"two containers, expression selector, default replicas", func() *appsv1.Deployment {
			d := webDeployment()
			d.Spec.Replicas = nil
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "proxy", Image: "envoy:v1.36"})
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "track", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"canary"}}}
			d.Status = appsv1.DeploymentStatus{}
			return d
		}, []any{"web", "0/1", int64(0), int64(0), "5h", "web,proxy", "nginx:1.27,envoy:v1.36", "app=web,track notin (canary)"}},
		{"invalid selector", func() *appsv1.Deployment {
			d := webDeployment()
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "track", Operator: "Near"}}
			return d
		}, []any{"web", "2/3", int64(3), int64(2), "5h", "web", "nginx:1.27", "<invalid>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, deploymentGK, tt.d()), tt.want)
		})
	}
}

func TestReplicaSetRows(t *testing.T) {
	gk := schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
	empty := webReplicaSet()
	empty.Spec.Selector = &metav1.LabelSelector{}
	tests := []struct {
		name string
		rs   runtime.Object
		want []any // NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR
	}{
		{"scaling", webReplicaSet(), []any{"web-7d4b9c8f6", int64(3), int64(3), int64(2), "5h", "web", "nginx:1.27", "app=web,pod-template-hash=7d4b9c8f6"}},
		{"empty selector", empty, []any{"web-7d4b9c8f6", int64(3), int64(3), int64(2), "5h", "web", "nginx:1.27", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, gk, tt.rs), tt.want)
		})
	}
}
