package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkTrackUpdate is the CPU the field manager adds to one write: a
// status write of a two-container pod (what node agents and controllers
// write most), without etcd.
func BenchmarkTrackUpdate(b *testing.B) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "web", Command: []string{"/bin/true"}, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
			{Name: "side", Command: []string{"/bin/true"}, Env: []corev1.EnvVar{{Name: "A", Value: "1"}}},
		}}}
	SetDefaults(p)
	r := &Registry{}
	live := r.trackCreate(Pods, p, "creator")
	phases := []corev1.PodPhase{corev1.PodRunning, corev1.PodPending}
	b.ReportAllocs()
	cpu := ProcessCPU()
	for i := 0; b.Loop(); i++ {
		next := live.DeepCopyObject().(*corev1.Pod)
		next.Status.Phase = phases[i%2]
		live = r.trackUpdate(Pods, "status", live, next, "")
	}
	ReportCPU(b, cpu)
}
