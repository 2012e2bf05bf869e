package registry

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An HPA read and written back through autoscaling/v1 loses nothing: what
// v1 has no fields for travels in annotations, as in Kubernetes.
func TestHPAConversionRoundTrip(t *testing.T) {
	rps, mem := resource.MustParse("50"), resource.MustParse("200Mi")
	h := validHPA()
	h.Annotations = map[string]string{"team": "shop"}
	h.Spec.Metrics = append(h.Spec.Metrics,
		autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "shoal_requests_per_second"},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &rps}}},
		autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &mem}}})
	h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32(60))}}
	SetDefaults(h)
	cur := resource.MustParse("41")
	h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, DesiredReplicas: 4,
		CurrentMetrics: []autoscalingv2.MetricStatus{
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: new(int32(62)), AverageValue: &cur}}},
		},
		Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue,
			Reason: "SucceededRescale", Message: "the HPA controller was able to update the target scale to 4", LastTransitionTime: metav1.Now().Rfc3339Copy(), ObservedGeneration: new(int64(2))}}}

	v1, err := hpaToV1(h)
	if err != nil {
		t.Fatal(err)
	}
	if p := v1.Spec.TargetCPUUtilizationPercentage; p == nil || *p != 50 {
		t.Errorf("targetCPUUtilizationPercentage = %v; want 50", p)
	}
	if p := v1.Status.CurrentCPUUtilizationPercentage; p == nil || *p != 62 {
		t.Errorf("currentCPUUtilizationPercentage = %v; want 62", p)
	}
	for _, key := range []string{hpaMetricsAnnotation, hpaCurrentMetricsAnnotation, hpaConditionsAnnotation, hpaBehaviorAnnotation} {
		if v1.Annotations[key] == "" {
			t.Errorf("no %s annotation in %v", key, v1.Annotations)
		}
	}
	if h.Annotations[hpaMetricsAnnotation] != "" {
		t.Error("the conversion changed the stored object's annotations")
	}
	back, err := hpaFromV1(v1)
	if err != nil {
		t.Fatal(err)
	}
	back.TypeMeta = h.TypeMeta
	if !apiequality.Semantic.DeepEqual(back, h) {
		t.Errorf("round trip changed the HPA:\n got %+v\nwant %+v", back, h)
	}

	// A plain v1 HPA: its CPU target, or the v2 default when it has none.
	plain := &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 3}}
	got, err := hpaFromV1(plain)
	if err != nil {
		t.Fatal(err)
	}
	SetDefaults(got)
	if m := got.Spec.Metrics; len(m) != 1 || *m[0].Resource.Target.AverageUtilization != DefaultCPUUtilization {
		t.Errorf("metrics of a v1 HPA without a target: %+v; want CPU at %d%%", m, DefaultCPUUtilization)
	}
	bad := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{hpaMetricsAnnotation: "{"}}}
	if _, err := hpaFromV1(bad); err == nil {
		t.Error("a malformed metrics annotation was accepted")
	}
}
