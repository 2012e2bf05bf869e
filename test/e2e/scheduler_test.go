package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/scheduler/schedulertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// podYAML is a pod asking for cpu, placed by schedulerName.
func podYAML(name, cpu, schedulerName string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: default
spec:
  schedulerName: %s
  containers:
  - name: app
    command: ["/bin/sleep", "3600"]
    resources:
      requests: {cpu: "%s", memory: 64Mi}
`, name, schedulerName, cpu)
}

// The scheduler in `shoal up` seen through kubectl and client-go: nodes
// listed Ready with their pod CIDRs, an unschedulable pod's
// FailedScheduling event in describe, the pods/binding subresource.
func TestSchedulerKubectl(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	simNode := func(name, cpu string) {
		schedulertest.Start(t, s.Registry, name, schedulertest.Options{CPU: cpu, Memory: "4Gi", Interval: 500 * time.Millisecond,
			RunPods: true, Caches: s.Caches})
	}
	simNode("node-1", "2")
	simNode("node-2", "2")

	t.Run("get nodes", func(t *testing.T) {
		out, _ := k.ok(t, "get", "nodes")
		tables := parseKubectlTables(out)
		if len(tables) != 1 {
			t.Fatalf("kubectl get nodes printed:\n%s", out)
		}
		for _, n := range []string{"node-1", "node-2"} {
			if got := tables[0].cell(n, "STATUS"); got != "Ready" {
				t.Errorf("%s STATUS = %q, want Ready, in:\n%s", n, got, out)
			}
		}
		out, _ = k.ok(t, "get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR} {end}")
		if got := strings.Fields(out); len(got) != 2 || got[0] != "node-1=10.244.0.0/24" || got[1] != "node-2=10.244.1.0/24" {
			t.Errorf("pod CIDRs: %q", got)
		}
	})

	t.Run("unschedulable until a node fits", func(t *testing.T) {
		k.ok(t, "apply", "-f", k.write(t, "big.yaml", podYAML("big", "3", "default-scheduler")))
		describeShows(t, k, []string{"pod", "big"},
			`^\s+Warning\s+FailedScheduling\s+.*default-scheduler\s+0/2 nodes are available: 2 Insufficient cpu\.$`,
			`^\s+PodScheduled\s+False`)
		simNode("node-3", "4")
		testenv.Eventually(t, settleTimeout, "big bound to node-3 and running", func() error {
			p, err := cs.CoreV1().Pods("default").Get(t.Context(), "big", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Spec.NodeName != "node-3" || p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("on %q, %s", p.Spec.NodeName, p.Status.Phase)
			}
			return nil
		})
		out, _ := k.ok(t, "get", "pod", "big", "-o", "wide")
		if !regexp.MustCompile(`(?m)^big\s+.*Running.*node-3`).MatchString(out) {
			t.Errorf("kubectl get pod -o wide:\n%s", out)
		}
		describeShows(t, k, []string{"pod", "big"}, `^\s+Normal\s+Scheduled\s+.*Successfully assigned default/big to node-3$`)
	})

	t.Run("binding", func(t *testing.T) {
		// A schedulerName nobody serves: the pod waits for a binding.
		k.ok(t, "apply", "-f", k.write(t, "manual.yaml", podYAML("manual", "100m", "manual")+"---\n"+podYAML("manual-2", "100m", "manual")))
		pods := cs.CoreV1().Pods("default")
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
		if err := pods.Bind(t.Context(), b, metav1.CreateOptions{}); err != nil {
			t.Fatalf("client-go Bind: %v", err)
		}
		p, err := pods.Get(t.Context(), "manual", metav1.GetOptions{})
		if err != nil || p.Spec.NodeName != "node-1" {
			t.Fatalf("after Bind: %v, %v", p, err)
		}
		b.Target.Name = "node-2"
		err = pods.Bind(t.Context(), b, metav1.CreateOptions{})
		if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `pod manual is already assigned to node "node-1"`) {
			t.Fatalf("second Bind: %v; want 409 already assigned", err)
		}
		if err := pods.Bind(t.Context(), &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "ghost"}, Target: corev1.ObjectReference{Name: "node-1"}},
			metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("Bind of a pod that does not exist: %v; want 404", err)
		}
		// The same through kubectl.
		body := k.write(t, "binding.json", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"manual-2"},"target":{"kind":"Node","name":"node-2"}}`)
		k.ok(t, "create", "--raw", "/api/v1/namespaces/default/pods/manual-2/binding", "-f", body)
		stderr := k.fails(t, "create", "--raw", "/api/v1/namespaces/default/pods/manual-2/binding", "-f", body)
		if !strings.Contains(stderr, "already assigned") {
			t.Errorf("kubectl create --raw of a second binding: %s", stderr)
		}
		out, _ := k.ok(t, "get", "pod", "manual-2", "-o", "jsonpath={.spec.nodeName}")
		if out != "node-2" {
			t.Errorf("manual-2 is on %q, want node-2", out)
		}
	})
}
