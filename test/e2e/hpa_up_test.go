package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// burnManifest is a Deployment of one busybox pod that busy-loops until
// /tmp/stop exists in its container — at its CPU limit of 200m, twice its
// request — and an HPA keeping the pods at 50% of their CPU request, 1 to
// 3 of them, whose scale-down stabilization window is 5 s instead of 5 min.
func burnManifest(registry string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: %s/busybox:1
        command: [sh, -c, "while [ ! -e /tmp/stop ]; do :; done; exec sleep 3600"]
        resources:
          requests: {cpu: 100m}
          limits: {cpu: 200m}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 50}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 5
`, registry)
}

// hpaTimeout bounds each wait of testUpHPA: a 15 s sync period, 2 s load
// reports and pod starts, with room for a loaded machine.
const hpaTimeout = 2 * time.Minute

// testUpHPA runs `shoal up` as root with its agent and the busybox image
// from a registry on loopback: a Deployment whose pod busy-loops is scaled
// by its HPA from 1 to 3 Ready pods on the CPU the agent measures; once the
// loops stop (kubectl exec touches their stop file) it is scaled back to 1
// after the 5 s stabilization window. `kubectl get hpa` shows the
// utilization, the HPA's events say why it scaled. It logs the time from
// the load's start to the new pods Ready, and from its end to the scale-down.
func testUpHPA(t *testing.T, bin string) {
	testenv.RequireOK(t, testenv.Root, nodeagent.Preflight(""))
	testenv.Require(t, testenv.Registry, testenv.Busybox)
	kubectlBin := lookPath(t, testenv.Kubectl, "kubectl")
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	reg.Push(t, imagetest.Busybox(t), "busybox:1")

	agentSlot.Lock()
	defer agentSlot.Unlock()
	if _, err := os.Stat("/sys/class/net/shoal0"); err == nil {
		t.Fatal("an agent with the defaults already runs here (the bridge shoal0 exists), or a crashed one left it")
	}
	dir := t.TempDir()
	cleanNode(t, dir)
	t.Cleanup(func() { cleanNode(t, dir) })
	p := startShoal(t, bin, dir, freeAddrs(t), "--agent=on")
	p.waitReady(t)
	cs := p.clientset(t)
	k := &kubectl{bin: kubectlBin, kubeconfig: p.kubeconfig(), cacheDir: filepath.Join(dir, "kubectl-cache"), dir: dir}

	k.ok(t, "apply", "-f", k.write(t, "burn.yaml", burnManifest(reg.Host)))
	// The first pod busy-loops from the moment it runs: the load starts
	// when it is Ready (it has no probe).
	first := waitHPAPods(t, cs, 1, 1)
	loadStart := podReadyTime(first[0])
	scaled := waitHPAPods(t, cs, 3, 3)
	var lastReady time.Time
	for _, pod := range scaled {
		lastReady = later(lastReady, podReadyTime(pod))
	}
	hpa := getHPA(t, cs)
	scaleUp := "never"
	if hpa.Status.LastScaleTime != nil {
		scaleUp = hpa.Status.LastScaleTime.Sub(loadStart).Round(time.Second).String()
	}
	t.Logf("CPU load to new Ready pods: the busy pod Ready at %s, the HPA scaled to %d after %s, 3 pods Ready %v after the load started",
		loadStart.Format(time.TimeOnly), hpa.Status.DesiredReplicas, scaleUp, lastReady.Sub(loadStart).Round(time.Second))
	if hpa.Status.LastScaleTime == nil {
		t.Errorf("the HPA scaled the Deployment to 3 but has no lastScaleTime: %+v", hpa.Status)
	}
	if out, _ := k.ok(t, "get", "hpa", "burn", "--no-headers"); !strings.Contains(out, "/50%") || !strings.Contains(out, "Deployment/burn") {
		t.Errorf("kubectl get hpa burn: %q", out)
	} else {
		t.Logf("kubectl get hpa under load: %s", strings.Join(strings.Fields(out), " "))
	}
	if out, _ := k.ok(t, "describe", "hpa", "burn"); !strings.Contains(out, "cpu resource utilization (percentage of request) above target") {
		t.Errorf("kubectl describe hpa burn does not say it scaled up on CPU:\n%s", out)
	}

	// Stop the loops, in every pod the Deployment has (repeated: a pod
	// that started late would busy-loop again), and wait for the HPA to
	// scale back to 1.
	loadEnd := time.Now()
	testenv.Eventually(t, hpaTimeout, "the HPA scales burn back to 1 once its pods are idle", func() error {
		pods := burnPods(t, cs)
		for _, pod := range pods {
			if pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil {
				k.run(t, "exec", pod.Name, "--", "touch", "/tmp/stop") //nolint:errcheck // a pod being deleted may refuse; retried
			}
		}
		h := getHPA(t, cs)
		if h.Status.DesiredReplicas != 1 || len(pods) != 1 {
			return fmt.Errorf("HPA wants %d, %d pods, metrics %s", h.Status.DesiredReplicas, len(pods), cpuMetric(h))
		}
		return nil
	})
	t.Logf("load stopped to the Deployment back at 1 pod: %v (15 s sync period, 5 s stabilization window)", time.Since(loadEnd).Round(time.Second))
	events, err := cs.CoreV1().Events("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "HorizontalPodAutoscaler" && e.Reason == "SuccessfulRescale" {
			msgs = append(msgs, e.Message)
		}
	}
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "New size: 1; reason: All metrics below target") }) {
		t.Errorf("no SuccessfulRescale event for the scale-down; events: %q", msgs)
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.exit(t, exitTimeout); code != 0 {
		t.Errorf("shoal up exited with %d", code)
	}
	if left := nodeLeftovers(dir); len(left) > 0 {
		t.Errorf("shoal up left %v after a clean stop", left)
	}
}

// waitHPAPods waits until the burn Deployment has n pods, ready of them
// Ready, and returns them.
func waitHPAPods(t *testing.T, cs kubernetes.Interface, n, ready int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	testenv.Eventually(t, hpaTimeout, fmt.Sprintf("%d burn pods, %d Ready", n, ready), func() error {
		pods = burnPods(t, cs)
		r := 0
		for i := range pods {
			if podReady(&pods[i]) {
				r++
			}
		}
		if len(pods) != n || r != ready {
			return fmt.Errorf("%d pods, %d Ready; HPA metrics %s", len(pods), r, cpuMetric(getHPA(t, cs)))
		}
		return nil
	})
	return pods
}

// burnPods lists the burn Deployment's pods that are not being deleted.
func burnPods(t *testing.T, cs kubernetes.Interface) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "app=burn"})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
}

func getHPA(t *testing.T, cs kubernetes.Interface) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Get(t.Context(), "burn", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// cpuMetric is the HPA's current CPU utilization and its conditions, for
// a failure message.
func cpuMetric(h *autoscalingv2.HorizontalPodAutoscaler) string {
	s := "<none>"
	for _, m := range h.Status.CurrentMetrics {
		if m.Resource != nil && m.Resource.Current.AverageUtilization != nil {
			s = fmt.Sprintf("%d%%", *m.Resource.Current.AverageUtilization)
		}
	}
	for _, c := range h.Status.Conditions {
		s += fmt.Sprintf("; %s=%s %s", c.Type, c.Status, c.Reason)
	}
	return s
}

// podReadyTime is when pod's Ready condition last turned true.
func podReadyTime(pod corev1.Pod) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
