package table

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func piJob(edit func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", CreationTimestamp: ago(10 * time.Minute)},
		Spec: batchv1.JobSpec{Completions: ptr[int32](4), Parallelism: ptr[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "u1"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pi", Image: "perl:5.34"}}}}},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: now.Add(-9 * time.Minute)}, Succeeded: 1},
	}
	if edit != nil {
		edit(j)
	}
	return j
}

func cond(t batchv1.JobConditionType) []batchv1.JobCondition {
	return []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue}}
}

func TestJobRows(t *testing.T) {
	gk := schema.GroupKind{Group: "batch", Kind: "Job"}
	for _, tt := range []struct {
		name string
		job  *batchv1.Job
		want []any // NAME STATUS COMPLETIONS DURATION AGE CONTAINERS IMAGES SELECTOR
	}{
		{"running", piJob(nil), []any{"pi", "Running", "1/4", "9m", "10m", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=u1"}},
		{"complete", piJob(func(j *batchv1.Job) {
			j.Status.Succeeded, j.Status.CompletionTime, j.Status.Conditions = 4, &metav1.Time{Time: now.Add(-8*time.Minute - 30*time.Second)}, cond(batchv1.JobComplete)
		}), []any{"pi", "Complete", "4/4", "30s", "10m", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=u1"}},
		{"failed", piJob(func(j *batchv1.Job) { j.Status.Conditions = cond(batchv1.JobFailed) }),
			[]any{"pi", "Failed", "1/4", "9m", "10m", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=u1"}},
		{"suspended, never started, work queue", piJob(func(j *batchv1.Job) {
			j.Spec.Completions, j.Status = nil, batchv1.JobStatus{Conditions: cond(batchv1.JobSuspended)}
		}), []any{"pi", "Suspended", "0/1 of 2", "", "10m", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=u1"}},
		{"failing", piJob(func(j *batchv1.Job) { j.Status.Conditions = cond(batchv1.JobFailureTarget) }),
			[]any{"pi", "FailureTarget", "1/4", "9m", "10m", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=u1"}},
	} {
		t.Run(tt.name, func(t *testing.T) { assertCells(t, rowCells(t, gk, tt.job), tt.want) })
	}
}

func TestCronJobRow(t *testing.T) {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "default", CreationTimestamp: ago(2 * time.Hour)},
		Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", TimeZone: ptr("Europe/Berlin"), Suspend: ptr(false),
			JobTemplate: batchv1.JobTemplateSpec{Spec: piJob(nil).Spec}},
		Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "backup-29000"}}, LastScheduleTime: &metav1.Time{Time: now.Add(-3 * time.Minute)}},
	}
	cj.Spec.JobTemplate.Spec.Selector = nil
	assertCells(t, rowCells(t, schema.GroupKind{Group: "batch", Kind: "CronJob"}, cj),
		[]any{"backup", "*/5 * * * *", "Europe/Berlin", "False", int64(1), "3m", "120m", "pi", "perl:5.34", "<none>"})
}

func TestHPARow(t *testing.T) {
	q := resource.MustParse
	cpu := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr[int32](50)}}}
	mem := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(q("100Mi"))}}}
	rps := autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "shoal_requests_per_second"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(q("50"))}}}
	hpa := func(metrics []autoscalingv2.MetricSpec, current []autoscalingv2.MetricStatus) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(time.Hour)},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
				MinReplicas: ptr[int32](1), MaxReplicas: 5, Metrics: metrics},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: current},
		}
	}
	gk := schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}
	for _, tt := range []struct {
		name    string
		hpa     *autoscalingv2.HorizontalPodAutoscaler
		targets string
	}{
		{"no metrics yet", hpa([]autoscalingv2.MetricSpec{cpu}, nil), "cpu: <unknown>/50%"},
		{"cpu", hpa([]autoscalingv2.MetricSpec{cpu}, []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr[int32](35)}}}}),
			"cpu: 35%/50%"},
		{"rps and memory", hpa([]autoscalingv2.MetricSpec{rps, mem}, []autoscalingv2.MetricStatus{{Type: autoscalingv2.PodsMetricSourceType,
			Pods: &autoscalingv2.PodsMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: ptr(q("42500m"))}}}}),
			"42500m/50, memory: <unknown>/100Mi"},
		{"three", hpa([]autoscalingv2.MetricSpec{cpu, mem, rps}, nil), "cpu: <unknown>/50%, memory: <unknown>/100Mi + 1 more..."},
		{"none", hpa(nil, nil), "<none>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE
			assertCells(t, rowCells(t, gk, tt.hpa), []any{"web", "Deployment/web", tt.targets, "1", int64(5), int64(3), "60m"})
		})
	}
}
