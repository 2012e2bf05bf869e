package podautoscaler

import (
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)

// testPod is a pod running for an hour, ready for 59 minutes, requesting
// 1 CPU; phase "" keeps it Running.
func testPod(name string, phase corev1.PodPhase) *corev1.Pod {
	if phase == "" {
		phase = corev1.PodRunning
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
		Status: corev1.PodStatus{Phase: phase, StartTime: &metav1.Time{Time: t0.Add(-time.Hour)},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-59 * time.Minute))}}},
	}
}

func samples(values map[string]int64) podMetrics {
	m := podMetrics{}
	for name, v := range values {
		m[name] = podMetric{value: v, timestamp: t0, window: 2 * time.Second}
	}
	return m
}

func calc() calculator {
	return calculator{tolerance: 0.1, cpuInitializationPeriod: 5 * time.Minute, initialReadinessDelay: 30 * time.Second, now: t0}
}

// Kubernetes' algorithm on CPU utilization, target 50% of a 1-CPU request,
// 3 replicas now.
func TestResourceReplicas(t *testing.T) {
	three := func(phases ...corev1.PodPhase) []*corev1.Pod {
		pods := []*corev1.Pod{testPod("a", ""), testPod("b", ""), testPod("c", "")}
		for i, p := range phases {
			pods[i].Status.Phase = p
		}
		return pods
	}
	starting := three()
	starting[2].Status.StartTime = &metav1.Time{Time: t0.Add(-time.Minute)}
	starting[2].Status.Conditions[0] = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))}
	noRequest := three()
	noRequest[2].Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	for _, tc := range []struct {
		name    string
		pods    []*corev1.Pod
		metrics podMetrics
		want    int32
		percent int32
		err     string
	}{
		{"at target", three(), samples(map[string]int64{"a": 500, "b": 500, "c": 500}), 3, 50, ""},
		{"within the tolerance", three(), samples(map[string]int64{"a": 540, "b": 540, "c": 540}), 3, 54, ""},
		{"just past the tolerance", three(), samples(map[string]int64{"a": 560, "b": 560, "c": 560}), 4, 56, ""},
		{"up", three(), samples(map[string]int64{"a": 900, "b": 900, "c": 900}), 6, 90, ""},
		{"down", three(), samples(map[string]int64{"a": 200, "b": 200, "c": 200}), 2, 20, ""},
		// A pod without a sample counts as idle on a scale-up...
		{"missing, up", three(), samples(map[string]int64{"a": 900, "b": 900}), 4, 90, ""},
		// ...and as using its whole request on a scale-down.
		{"missing, down", three(), samples(map[string]int64{"a": 100, "b": 100}), 3, 10, ""},
		// A pending pod counts as idle on a scale-up, and not at all on a
		// scale-down.
		{"pending, up", three("", "", corev1.PodPending), samples(map[string]int64{"a": 900, "b": 900, "c": 900}), 4, 90, ""},
		{"pending, down", three("", "", corev1.PodPending), samples(map[string]int64{"a": 100, "b": 100, "c": 100}), 1, 10, ""},
		{"failed pod ignored", three("", "", corev1.PodFailed), samples(map[string]int64{"a": 900, "b": 900, "c": 5000}), 4, 90, ""},
		// A starting pod not yet ready: its CPU (busy starting up) does not
		// count for a scale-up.
		{"starting pod", starting, samples(map[string]int64{"a": 500, "b": 500, "c": 3000}), 3, 50, ""},
		{"no request", noRequest, samples(map[string]int64{"a": 500, "b": 500, "c": 500}), 0, 0, "missing request for cpu in container app of Pod c"},
		{"no pods", nil, samples(map[string]int64{"a": 500}), 0, 0, errNoPods.Error()},
		{"all pending", three(corev1.PodPending, corev1.PodPending, corev1.PodPending), samples(map[string]int64{"a": 500}), 0, 0, errNoPodMetric.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, percent, _, err := calc().resourceReplicas(3, 50, corev1.ResourceCPU, tc.pods, tc.metrics)
			if (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
				t.Fatalf("error %v; want %q", err, tc.err)
			}
			if got != tc.want || percent != tc.percent {
				t.Errorf("replicas %d at %d%%; want %d at %d%%", got, percent, tc.want, tc.percent)
			}
		})
	}
}

// An AverageValue target (a Pods metric: 50 requests per second per pod).
func TestPlainReplicas(t *testing.T) {
	pods := []*corev1.Pod{testPod("a", ""), testPod("b", ""), testPod("c", "")}
	for _, tc := range []struct {
		name    string
		metrics podMetrics
		want    int32
		avg     int64
	}{
		{"at target", samples(map[string]int64{"a": 50000, "b": 50000, "c": 50000}), 3, 50000},
		{"twice", samples(map[string]int64{"a": 100000, "b": 100000, "c": 100000}), 6, 100000},
		{"idle", samples(map[string]int64{"a": 0, "b": 0, "c": 0}), 0, 0},
		{"missing on a scale-down counts as at target", samples(map[string]int64{"a": 10000, "b": 10000}), 2, 10000}, // (10+10+50)/3 = 23.3 of 50: ceil(0.47×3)
	} {
		got, avg, err := calc().plainReplicas(3, 50000, "", pods, tc.metrics)
		if err != nil || got != tc.want || avg != tc.avg {
			t.Errorf("%s: %d replicas, average %d, %v; want %d, %d", tc.name, got, avg, err, tc.want, tc.avg)
		}
	}
}

func rules(window int32, sel autoscalingv2.ScalingPolicySelect, policies ...autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window, SelectPolicy: &sel, Policies: policies}
}

func pods(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: n, PeriodSeconds: period}
}

func percent(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: n, PeriodSeconds: period}
}

func hpaWith(b *autoscalingv2.HorizontalPodAutoscalerBehavior, maxReplicas int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: maxReplicas, Behavior: b}}
}

// The limits on one step, without earlier recommendations or scale events.
func TestNormalizeLimits(t *testing.T) {
	defaultUp := rules(0, autoscalingv2.MaxChangePolicySelect, pods(4, 15), percent(100, 15))
	for _, tc := range []struct {
		name                     string
		behavior                 *autoscalingv2.HorizontalPodAutoscalerBehavior
		current, desired, minRep int32
		maxRep                   int32
		want                     int32
		reason                   string
	}{
		{"v1: doubling, at least 4", nil, 2, 10, 1, 20, 4, "ScaleUpLimit"},
		{"v1: max", nil, 5, 10, 1, 6, 6, "TooManyReplicas"},
		{"v1: min", nil, 3, 0, 2, 6, 2, "TooFewReplicas"},
		{"v1: within", nil, 3, 5, 1, 10, 5, "DesiredWithinRange"},
		{"policies, Max", &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: defaultUp}, 2, 20, 1, 100, 6, "ScaleUpLimit"},
		{"policies, Min", &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rules(0, autoscalingv2.MinChangePolicySelect, pods(4, 15), percent(100, 15))},
			2, 20, 1, 100, 4, "ScaleUpLimit"},
		{"scale-up disabled", &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rules(0, autoscalingv2.DisabledPolicySelect, pods(4, 15))},
			2, 20, 1, 100, 2, "ScaleUpLimit"},
		{"down by half a minute", &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: defaultUp, ScaleDown: rules(0, autoscalingv2.MaxChangePolicySelect, percent(50, 60))},
			10, 1, 1, 100, 5, "ScaleDownLimit"},
		{"down to min", &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: defaultUp, ScaleDown: rules(0, autoscalingv2.MaxChangePolicySelect, percent(100, 15))},
			10, 0, 2, 100, 2, "TooFewReplicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := normalizer{h: newHistory(), downscaleWindow: 5 * time.Minute, now: t0}
			got := n.normalize(hpaWith(tc.behavior, tc.maxRep), "default/web", tc.current, tc.desired, tc.minRep)
			if got.replicas != tc.want || got.limitReason != tc.reason {
				t.Errorf("%d (%s); want %d (%s)", got.replicas, got.limitReason, tc.want, tc.reason)
			}
			if got.limitedTrue != (got.replicas != tc.desired) {
				t.Errorf("ScalingLimited %v for %d → %d", got.limitedTrue, tc.desired, got.replicas)
			}
		})
	}
}

// step is one reconcile of a sequence: at a time, the current replicas and
// what the metrics ask for, and what the normalization sets.
type step struct {
	at               time.Duration
	current, desired int32
	want             int32
	able             string
}

func runSteps(t *testing.T, b *autoscalingv2.HorizontalPodAutoscalerBehavior, steps []step) {
	t.Helper()
	h := newHistory()
	for i, s := range steps {
		now := t0.Add(s.at)
		h.seed("k", s.current, now)
		n := normalizer{h: h, downscaleWindow: 5 * time.Minute, now: now}
		got := n.normalize(hpaWith(b, 100), "k", s.current, s.desired, 1)
		if got.replicas != s.want || (s.able != "" && got.ableReason != s.able) {
			t.Errorf("step %d (+%v, %d → %d): %d (%s); want %d (%s)", i, s.at, s.current, s.desired, got.replicas, got.ableReason, s.want, s.able)
		}
		n.record(b, "k", s.current, got.replicas)
	}
}

// Without a behavior, a scale-down waits for the highest recommendation of
// the last 5 minutes to drop.
func TestStabilizationWithoutBehavior(t *testing.T) {
	runSteps(t, nil, []step{
		{0, 4, 4, 4, "ReadyForNewScale"},
		{time.Minute, 4, 2, 4, "ScaleDownStabilized"},
		{4 * time.Minute, 4, 1, 4, "ScaleDownStabilized"},
		{5*time.Minute + time.Second, 4, 1, 2, "ScaleDownStabilized"}, // the 4 of minute 0 is out; 2 of minute 1 is the highest
		{6*time.Minute + time.Second, 2, 1, 1, "ReadyForNewScale"},
	})
}

// With a behavior: the scale-down window, and scale-up policies counted
// over their period from the events recorded.
func TestBehaviorWindowsAndPolicies(t *testing.T) {
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   rules(0, autoscalingv2.MaxChangePolicySelect, pods(2, 30)),
		ScaleDown: rules(60, autoscalingv2.MaxChangePolicySelect, percent(100, 15)),
	}
	runSteps(t, b, []step{
		{0, 2, 10, 4, ""},                                   // +2 pods per 30 s
		{10 * time.Second, 4, 10, 4, ""},                    // the +2 of 10 s ago fills the period
		{31 * time.Second, 4, 10, 6, ""},                    // a new period
		{40 * time.Second, 6, 2, 6, "ScaleDownStabilized"},  // 10 was asked 9 s ago
		{101 * time.Second, 6, 2, 2, ""},                    // all within 60 s ask 2
		{102 * time.Second, 2, 3, 3, "ReadyForNewScale"},    // up at once: no scale-up window
		{103 * time.Second, 3, 1, 3, "ScaleDownStabilized"}, // held by the 3 a second ago
		{104 * time.Second, 3, 3, 3, "ReadyForNewScale"},
	})
}

func TestConditionTransitionTime(t *testing.T) {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	setCondition(h, autoscalingv2.AbleToScale, corev1.ConditionTrue, "A", "a", t0)
	setCondition(h, autoscalingv2.AbleToScale, corev1.ConditionTrue, "B", "b", t0.Add(time.Minute))
	c := h.Status.Conditions[0]
	if len(h.Status.Conditions) != 1 || c.Reason != "B" || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("same status: %+v; want reason B, transition time unchanged", h.Status.Conditions)
	}
	setCondition(h, autoscalingv2.AbleToScale, corev1.ConditionFalse, "C", "c", t0.Add(2*time.Minute))
	if c := h.Status.Conditions[0]; !c.LastTransitionTime.Time.Equal(t0.Add(2*time.Minute)) || !strings.HasPrefix(c.Message, "c") {
		t.Errorf("new status: %+v; want the transition time moved", c)
	}
}
