package registry

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// validJob is a Job as the registry has it after a create: with the
// generated selector and pod labels.
func validJob() *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pi", UID: types.UID("0b0c9d4e-1111-2222-3333-444455556666")},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "pi", Command: []string{"/bin/true"}}},
		}}},
	}
	prepareCreate(j)
	return j
}

func validCronJob() *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hourly"},
		Spec: batchv1.CronJobSpec{Schedule: "@hourly", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: validJob().Spec.Template,
		}}},
	}
}

// validHPA scales Deployment web on CPU, as `kubectl autoscale` makes it.
func validHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    new(int32(1)), MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(50))}}}},
		},
	}
}

func TestValidateWorkloadsValid(t *testing.T) {
	rps := resource.MustParse("50")
	for name, obj := range map[string]runtime.Object{
		"job": validJob(),
		"indexed": with(validJob(), func(j *batchv1.Job) {
			j.Spec.CompletionMode = new(batchv1.IndexedCompletion)
			j.Spec.Completions = new(int32(4))
		}),
		"onfailure": with(validJob(), func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}),
		"podfailurepolicy": with(validJob(), func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}}}}
			j.Spec.PodReplacementPolicy = new(batchv1.Failed)
		}),
		"cronjob": validCronJob(),
		"cron tz": with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "30 2 * * 1-5"; c.Spec.TimeZone = new("Europe/Berlin") }),
		"hpa":     validHPA(),
		"hpa pods": with(validHPA(), func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "shoal_requests_per_second"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &rps}}}}
		}),
		"hpa behavior": with(validHPA(), func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32(60))}}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			SetDefaults(obj)
			if errs := Validate(obj); len(errs) > 0 {
				t.Errorf("Validate: %v", errs)
			}
			if errs := ValidateUpdate(obj, obj.DeepCopyObject()); len(errs) > 0 {
				t.Errorf("ValidateUpdate with no change: %v", errs)
			}
		})
	}
}

func TestValidateJob(t *testing.T) {
	job := func(change func(*batchv1.Job)) *batchv1.Job { return with(validJob(), change) }
	tests := []struct {
		name string
		obj  *batchv1.Job
		want []string
	}{
		{"restartPolicy unset (Always)", job(func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" }),
			[]string{"spec.template.spec.restartPolicy: Required value"}},
		{"restartPolicy Always", job(func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }),
			[]string{"spec.template.spec.restartPolicy: Required value"}},
		{"negative counts", job(func(j *batchv1.Job) {
			j.Spec.Parallelism, j.Spec.Completions, j.Spec.BackoffLimit = new(int32(-1)), new(int32(-1)), new(int32(-1))
			j.Spec.ActiveDeadlineSeconds, j.Spec.TTLSecondsAfterFinished = new(int64(-1)), new(int32(-1))
		}), []string{"spec.activeDeadlineSeconds: Invalid value", "spec.backoffLimit: Invalid value", "spec.completions: Invalid value",
			"spec.parallelism: Invalid value", "spec.ttlSecondsAfterFinished: Invalid value"}},
		{"indexed without completions", job(func(j *batchv1.Job) { j.Spec.CompletionMode = new(batchv1.IndexedCompletion) }),
			[]string{"spec.completions: Required value"}},
		{"unknown completion mode", job(func(j *batchv1.Job) { j.Spec.CompletionMode = new(batchv1.CompletionMode("Sometimes")) }),
			[]string{"spec.completionMode: Unsupported value"}},
		{"selector not generated", job(func(j *batchv1.Job) { j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = "other" }),
			[]string{"spec.selector: Invalid value", "spec.template.metadata.labels: Invalid value"}},
		{"pod failure policy with OnFailure", job(func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodReplacementPolicy = new(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}}}
		}), []string{"spec.template.spec.restartPolicy: Invalid value"}},
		{"unsupported field", job(func(j *batchv1.Job) { j.Spec.ManagedBy = new("kueue.x-k8s.io/multikueue") }),
			[]string{"spec.managedBy: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.obj), tt.want) })
	}
	// The message kubectl shows for the commonest mistake, as Kubernetes words it.
	errs := Validate(job(func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" }))
	if got := errs.ToAggregate().Error(); got != `spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"` {
		t.Errorf("restartPolicy message = %q", got)
	}
}

func TestValidateJobUpdate(t *testing.T) {
	old := validJob()
	SetDefaults(old)
	for _, tt := range []struct {
		name string
		edit func(*batchv1.Job)
		want []string
	}{
		{"parallelism may change", func(j *batchv1.Job) { j.Spec.Parallelism = new(int32(3)) }, nil},
		{"suspend may change", func(j *batchv1.Job) { j.Spec.Suspend = new(true) }, nil},
		{"completions may not", func(j *batchv1.Job) { j.Spec.Completions = new(int32(3)) }, []string{"spec.completions: Invalid value"}},
		{"template may not", func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Command = []string{"/bin/false"} }, []string{"spec.template: Invalid value"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := old.DeepCopy()
			tt.edit(j)
			checkErrors(t, ValidateUpdate(j, old), tt.want)
		})
	}
}

func TestValidateCronJob(t *testing.T) {
	cj := func(change func(*batchv1.CronJob)) *batchv1.CronJob { return with(validCronJob(), change) }
	for _, tt := range []struct {
		name string
		obj  *batchv1.CronJob
		want []string
	}{
		{"bad schedule", cj(func(c *batchv1.CronJob) { c.Spec.Schedule = "every minute" }), []string{"spec.schedule: Invalid value"}},
		{"six fields", cj(func(c *batchv1.CronJob) { c.Spec.Schedule = "0 * * * * *" }), []string{"spec.schedule: Invalid value"}},
		{"TZ in schedule", cj(func(c *batchv1.CronJob) { c.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }), []string{"spec.schedule: Invalid value"}},
		{"unknown zone", cj(func(c *batchv1.CronJob) { c.Spec.TimeZone = new("Mars/Olympus") }), []string{"spec.timeZone: Invalid value"}},
		{"local zone", cj(func(c *batchv1.CronJob) { c.Spec.TimeZone = new("Local") }), []string{"spec.timeZone: Invalid value"}},
		{"policy", cj(func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }), []string{"spec.concurrencyPolicy: Unsupported value"}},
		{"long name", cj(func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) }), []string{"metadata.name: Invalid value"}},
		{"selector in template", cj(func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}), []string{"spec.jobTemplate.spec.selector: Invalid value"}},
		{"template restart policy", cj(func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}),
			[]string{"spec.jobTemplate.spec.template.spec.restartPolicy: Required value"}},
		{"negative limits", cj(func(c *batchv1.CronJob) {
			c.Spec.StartingDeadlineSeconds, c.Spec.SuccessfulJobsHistoryLimit = new(int64(-1)), new(int32(-1))
		}), []string{"spec.startingDeadlineSeconds: Invalid value", "spec.successfulJobsHistoryLimit: Invalid value"}},
	} {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.obj), tt.want) })
	}
}

func TestValidateHPA(t *testing.T) {
	hpa := func(change func(*autoscalingv2.HorizontalPodAutoscaler)) *autoscalingv2.HorizontalPodAutoscaler {
		return with(validHPA(), change)
	}
	zero := resource.MustParse("0")
	for _, tt := range []struct {
		name string
		obj  *autoscalingv2.HorizontalPodAutoscaler
		want []string
	}{
		{"no target", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{}
		}),
			[]string{"spec.scaleTargetRef.kind: Required value", "spec.scaleTargetRef.name: Required value"}},
		{"min above max", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = new(int32(6)) }),
			[]string{"spec.maxReplicas: Invalid value"}},
		{"min zero", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = new(int32(0)) }),
			[]string{"spec.minReplicas: Invalid value"}},
		{"max zero", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }),
			[]string{"spec.maxReplicas: Invalid value", "spec.maxReplicas: Invalid value"}},
		{"resource without target", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target = autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType}
		}), []string{"spec.metrics[0].resource.target.averageUtilization: Required value"}},
		{"source missing", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource = nil }),
			[]string{"spec.metrics[0].resource: Required value"}},
		{"unknown type", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.Metrics[0].Type = "Cosmic" }),
			[]string{"spec.metrics[0].type: Unsupported value"}},
		{"pods without average", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "rps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &zero}}}}
		}), []string{"spec.metrics[0].pods.target.averageValue: Invalid value"}},
		{"bad behavior", hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: new(int32(4000)), SelectPolicy: new(autoscalingv2.ScalingPolicySelect("Most")),
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: "Pods", Value: 0, PeriodSeconds: 2000}}}}
			SetDefaults(h)
		}), []string{"spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value", "spec.behavior.scaleUp.policies[0].value: Invalid value",
			"spec.behavior.scaleUp.selectPolicy: Unsupported value", "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value"}},
	} {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.obj), tt.want) })
	}
}

func TestWorkloadDefaults(t *testing.T) {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pi", UID: "u1"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}}}}
	prepareCreate(j)
	SetDefaults(j)
	if *j.Spec.Completions != 1 || *j.Spec.Parallelism != 1 || *j.Spec.BackoffLimit != 6 || *j.Spec.CompletionMode != batchv1.NonIndexedCompletion ||
		*j.Spec.Suspend || *j.Spec.PodReplacementPolicy != batchv1.TerminatingOrFailed {
		t.Errorf("job spec defaults: %+v", j.Spec)
	}
	want := map[string]string{"job-name": "pi", "controller-uid": "u1", batchv1.JobNameLabel: "pi", batchv1.ControllerUidLabel: "u1"}
	for k, v := range want {
		if j.Labels[k] != v || j.Spec.Template.Labels[k] != v {
			t.Errorf("label %s: job %q, template %q; want %q", k, j.Labels[k], j.Spec.Template.Labels[k], v)
		}
	}
	if got := j.Spec.Selector.MatchLabels; len(got) != 1 || got[batchv1.ControllerUidLabel] != "u1" {
		t.Errorf("selector = %v; want the controller uid", got)
	}
	// A Job whose template has labels keeps its own labels to those.
	j2 := validJob()
	j2.Labels = nil
	j2.Spec.Template.Labels = map[string]string{"app": "pi"}
	prepareCreate(j2)
	SetDefaults(j2)
	if len(j2.Labels) != 1 || j2.Labels["app"] != "pi" {
		t.Errorf("job labels = %v; want the template's own (app=pi)", j2.Labels)
	}

	h := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32(30))}}}}
	SetDefaults(h)
	m := h.Spec.Metrics
	if *h.Spec.MinReplicas != 1 || len(m) != 1 || m[0].Resource.Name != corev1.ResourceCPU || *m[0].Resource.Target.AverageUtilization != 80 {
		t.Errorf("hpa defaults: %+v", h.Spec)
	}
	up, down := h.Spec.Behavior.ScaleUp, h.Spec.Behavior.ScaleDown
	if *up.StabilizationWindowSeconds != 0 || len(up.Policies) != 2 || *up.SelectPolicy != autoscalingv2.MaxChangePolicySelect {
		t.Errorf("scaleUp defaults: %+v", up)
	}
	if *down.StabilizationWindowSeconds != 30 || len(down.Policies) != 1 || down.Policies[0].Value != 100 {
		t.Errorf("scaleDown defaults: %+v", down)
	}
}
