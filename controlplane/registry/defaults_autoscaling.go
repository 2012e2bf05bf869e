package registry

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// Defaults Kubernetes gives autoscaling/v2 HorizontalPodAutoscalers
// (k8s.io/kubernetes pkg/apis/autoscaling/v2/defaults.go).
const (
	// DefaultCPUUtilization is the target of an HPA that names no metric.
	DefaultCPUUtilization int32 = 80
)

func setHPADefaults(h *autoscalingv2.HorizontalPodAutoscaler) {
	if h.Spec.MinReplicas == nil {
		h.Spec.MinReplicas = new(int32(1))
	}
	if len(h.Spec.Metrics) == 0 {
		h.Spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
				Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(DefaultCPUUtilization)}},
		}}
	}
	// A behavior that is given gets every rule it leaves out; one that is
	// not stays nil (the controller then applies the v1 behavior).
	if b := h.Spec.Behavior; b != nil {
		b.ScaleUp = scaleUpRules(b.ScaleUp)
		b.ScaleDown = scaleDownRules(b.ScaleDown)
	}
}

// scaleUpRules fills what r leaves unset with Kubernetes' scale-up rules:
// no stabilization, and at most 4 pods or doubling every 15 s, whichever
// adds more.
func scaleUpRules(r *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	return fillRules(r, new(int32(0)), []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	})
}

// scaleDownRules fills what r leaves unset with Kubernetes' scale-down
// rules: down to any size every 15 s. The stabilization window stays unset,
// as in Kubernetes: the controller applies its own (300 s by default).
func scaleDownRules(r *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	return fillRules(r, nil, []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	})
}

func fillRules(r *autoscalingv2.HPAScalingRules, window *int32, policies []autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	if r == nil {
		r = &autoscalingv2.HPAScalingRules{}
	}
	if r.StabilizationWindowSeconds == nil && window != nil {
		r.StabilizationWindowSeconds = new(*window)
	}
	if r.SelectPolicy == nil {
		r.SelectPolicy = new(autoscalingv2.MaxChangePolicySelect)
	}
	if len(r.Policies) == 0 {
		r.Policies = policies
	}
	return r
}
