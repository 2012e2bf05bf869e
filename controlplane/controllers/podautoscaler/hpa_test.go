package podautoscaler

import (
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

// An HPA on CPU scales a busy Deployment up as far as maxReplicas, and
// back down once the load is gone and the stabilization window has passed.
func TestHPAScalesOnCPU(t *testing.T) {
	e := newEnv(t)
	e.Create(registry.Deployments, webDeployment("web"))
	h := e.hpa("web", "web", 4, cpuTarget(50))
	// 90m of a 100m request: 180% of the target.
	// 1 → 2 (ceil(1.8×1)), then, once the new pod runs and reports,
	// 2 → 4 (ceil(1.8×2)), the maximum.
	busy := func(pods []*corev1.Pod) { e.reportCPU(pods, 0.09) }
	e.waitReplicas("web", 4, busy)
	e.waitEvent(h, "SuccessfulRescale", "New size: 2; reason: cpu resource utilization (percentage of request) above target")
	e.waitEvent(h, "SuccessfulRescale", "New size: 4; reason: cpu resource utilization (percentage of request) above target")
	got := e.getHPA("web")
	if c := conditionOf(got, autoscalingv2.ScalingActive); c.Status != corev1.ConditionTrue || c.Reason != "ValidMetricFound" {
		t.Errorf("ScalingActive %+v", c)
	}
	if got.Status.LastScaleTime == nil {
		t.Error("no lastScaleTime after a rescale")
	}
	// At 4, the maximum: the metric asks for more, the limit holds.
	busyAtMax := func(pods []*corev1.Pod) { e.reportCPU(pods, 0.09) }
	e.waitReplicas("web", 4, busyAtMax)
	waitCondition(t, e, "web", autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooManyReplicas", busyAtMax)

	// Idle: the recommendation drops at once, the scale only after the
	// stabilization window, during which the HPA says why it waits.
	idle := func(pods []*corev1.Pod) { e.reportCPU(pods, 0.005) }
	waitCondition(t, e, "web", autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", idle)
	if n := e.replicas("web"); n != 4 {
		t.Errorf("%d replicas while the scale-down is stabilized; want still 4", n)
	}
	e.waitReplicas("web", 1, idle)
	e.waitEvent(h, "SuccessfulRescale", "New size: 1; reason: All metrics below target")
	got = e.getHPA("web")
	cur := got.Status.CurrentMetrics
	if len(cur) != 1 || cur[0].Resource == nil || cur[0].Resource.Current.AverageUtilization == nil || *cur[0].Resource.Current.AverageUtilization != 5 {
		t.Errorf("currentMetrics %+v; want cpu at 5%%", cur)
	}
}

// A Pods metric of Shoal's own traffic data: requests per second per pod,
// as the xDS replicas publish it from the proxies' load reports, scales a
// Deployment without any metrics adapter.
func TestHPAScalesOnRequestsPerSecond(t *testing.T) {
	e := newEnv(t)
	e.Create(registry.Deployments, webDeployment("api"))
	h := e.hpa("api", "api", 5, rpsTarget("50"))
	// 130 requests per second in all, spread over the running pods as a
	// balancer spreads them: 130 on one pod is 2.6 times the target of 50,
	// so 3 pods, which then get 43.3 each: within the tolerance, it stays.
	spread := func(total float64) func([]*corev1.Pod) {
		return func(pods []*corev1.Pod) {
			if len(pods) > 0 {
				e.reportTraffic(pods, total/float64(len(pods)))
			}
		}
	}
	e.waitReplicas("api", 3, spread(130))
	e.waitEvent(h, "SuccessfulRescale", "New size: 3; reason: pods metric shoal_requests_per_second above target")
	waitCondition(t, e, "api", autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", spread(130))
	if n := e.replicas("api"); n != 3 {
		t.Errorf("%d replicas at 43 requests per second per pod; want to stay at 3", n)
	}
	// No traffic at all: the proxies report nothing, the pods are idle,
	// and after the stabilization window it scales to the minimum.
	e.waitReplicas("api", 1, func([]*corev1.Pod) {
		if _, err := e.Reg.Store.Client().Delete(e.Ctx, api.TrafficPrefix, clientv3.WithPrefix()); err != nil {
			t.Fatal(err)
		}
	})
	e.waitEvent(h, "SuccessfulRescale", "New size: 1; reason: All metrics below target")
	got := e.getHPA("api")
	if m := got.Status.CurrentMetrics; len(m) != 1 || m[0].Pods == nil || m[0].Pods.Current.AverageValue.MilliValue() != 0 {
		t.Errorf("currentMetrics %+v; want 0 requests per second", m)
	}
}

// An HPA naming a target that does not exist says so in its AbleToScale
// condition (FailedGetScale), and scales once the target appears.
func TestHPAMissingTarget(t *testing.T) {
	e := newEnv(t)
	h := e.hpa("ghost", "ghost", 3, cpuTarget(50))
	waitCondition(t, e, "ghost", autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", nil)
	c := conditionOf(e.getHPA("ghost"), autoscalingv2.AbleToScale)
	if want := `the HPA controller was unable to get the target's current scale: deployments.apps "ghost" not found`; c.Message != want {
		t.Errorf("message %q; want %q", c.Message, want)
	}
	e.waitEvent(h, "FailedGetScale", `deployments.apps "ghost" not found`)
	// The target appears; its pods report no load yet: the HPA can get the
	// scale but not the metric.
	e.Create(registry.Deployments, webDeployment("ghost"))
	waitCondition(t, e, "ghost", autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetResourceMetric", func(pods []*corev1.Pod) {})
	c = conditionOf(e.getHPA("ghost"), autoscalingv2.ScalingActive)
	if want := "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API"; c.Message != want {
		t.Errorf("message %q; want %q", c.Message, want)
	}
	e.waitEvent(h, "FailedComputeMetricsReplicas", "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value:")
	e.waitReplicas("ghost", 2, func(pods []*corev1.Pod) { e.reportCPU(pods, 0.09) })
}

func waitCondition(t *testing.T, e env, name string, ct autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, reason string, feed func([]*corev1.Pod)) {
	t.Helper()
	last := time.Time{}
	controllertest.Eventually(t, string(ct)+"="+string(status)+" "+reason, func() (bool, string) {
		if feed != nil && time.Since(last) > 50*time.Millisecond {
			feed(e.runPods(name))
			last = time.Now()
		}
		c := conditionOf(e.getHPA(name), ct)
		return c.Status == status && c.Reason == reason, c.String()
	})
}

// A metric source Shoal has nothing to read for is reported in the
// ScalingActive condition, not ignored.
func TestHPAUnservedMetric(t *testing.T) {
	e := newEnv(t)
	e.Create(registry.Deployments, webDeployment("ext"))
	q := resource.MustParse("10")
	e.hpa("ext", "ext", 3, autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}})
	waitCondition(t, e, "ext", autoscalingv2.ScalingActive, corev1.ConditionFalse, "FailedGetExternalMetric", func([]*corev1.Pod) {})
	c := conditionOf(e.getHPA("ext"), autoscalingv2.ScalingActive)
	if !strings.Contains(c.Message, "no external metrics are served by Shoal") {
		t.Errorf("message %q", c.Message)
	}
	if n := e.replicas("ext"); n != 1 {
		t.Errorf("%d replicas; want the target left alone", n)
	}
}
