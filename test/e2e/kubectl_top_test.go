package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// TestKubectlTop: `kubectl top nodes` and `kubectl top pods` read the
// metrics.k8s.io API, which Shoal serves from the load reports node agents
// write on their Leases. Here the report is written by hand; the agent's own
// is tested with the agent.
func TestKubectlTop(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	ctx := t.Context()
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{SchedulerName: "none", Containers: []corev1.Container{{Name: "main", Command: []string{"sleep", "1d"}}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	now, holder := metav1.NewMicroTime(time.Now()), "node-1"
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: api.NodeLeaseNamespace, Name: "node-1"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &now}}
	if err := api.SetLoadReport(lease, api.LoadReport{CPU: 1.25, Memory: 2 << 30, Pods: 1, Time: time.Now(),
		PodLoads: map[string]api.PodLoad{"default/web": {CPU: 0.25, Memory: 100 << 20}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoordinationV1().Leases(api.NodeLeaseNamespace).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var out string
	testenv.Eventually(t, 10*time.Second, "kubectl top nodes", func() error {
		o, errOut, err := k.run(t, "top", "nodes")
		out = o
		if err != nil || !strings.Contains(o, "node-1") {
			return fmt.Errorf("%v\n%s%s", err, o, errOut)
		}
		return nil
	})
	if !strings.Contains(out, "1250m") || !strings.Contains(out, "2048Mi") {
		t.Errorf("kubectl top nodes:\n%s; want node-1 at 1250m CPU and 2048Mi", out)
	}
	out, errOut, err := k.run(t, "top", "pods", "-l", "app=web")
	if err != nil || !strings.Contains(out, "web") || !strings.Contains(out, "250m") || !strings.Contains(out, "100Mi") {
		t.Errorf("kubectl top pods: %v\n%s%s", err, out, errOut)
	}
}
