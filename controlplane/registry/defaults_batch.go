package registry

import (
	"maps"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// Defaults Kubernetes gives batch/v1 objects (k8s.io/kubernetes
// pkg/apis/batch/v1/defaults.go).
const (
	defaultBackoffLimit               int32 = 6
	defaultSuccessfulJobsHistoryLimit int32 = 3
	defaultFailedJobsHistoryLimit     int32 = 1
)

func setJobDefaults(j *batchv1.Job) {
	setJobSpecDefaults(&j.Spec)
	setJobLabels(j)
}

// setJobLabels gives a Job without labels of its own its pods' labels.
func setJobLabels(j *batchv1.Job) {
	if l := j.Spec.Template.Labels; l != nil && len(j.Labels) == 0 {
		j.Labels = maps.Clone(l)
	}
}

func setJobSpecDefaults(s *batchv1.JobSpec) {
	// A non-parallel job may leave both unset.
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = new(int32(1))
		s.Parallelism = new(int32(1))
	}
	if s.Parallelism == nil {
		s.Parallelism = new(int32(1))
	}
	if s.BackoffLimit == nil {
		s.BackoffLimit = new(defaultBackoffLimit)
	}
	if s.CompletionMode == nil {
		s.CompletionMode = new(batchv1.NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = new(false)
	}
	if p := s.PodFailurePolicy; p != nil {
		for i := range p.Rules {
			for j := range p.Rules[i].OnPodConditions {
				if p.Rules[i].OnPodConditions[j].Status == "" {
					p.Rules[i].OnPodConditions[j].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		if s.PodFailurePolicy != nil {
			s.PodReplacementPolicy = new(batchv1.Failed)
		} else {
			s.PodReplacementPolicy = new(batchv1.TerminatingOrFailed)
		}
	}
	setPodSpecDefaults(&s.Template.Spec)
}

func setCronJobDefaults(cj *batchv1.CronJob) {
	if cj.Spec.ConcurrencyPolicy == "" {
		cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if cj.Spec.Suspend == nil {
		cj.Spec.Suspend = new(false)
	}
	if cj.Spec.SuccessfulJobsHistoryLimit == nil {
		cj.Spec.SuccessfulJobsHistoryLimit = new(defaultSuccessfulJobsHistoryLimit)
	}
	if cj.Spec.FailedJobsHistoryLimit == nil {
		cj.Spec.FailedJobsHistoryLimit = new(defaultFailedJobsHistoryLimit)
	}
	setPodSpecDefaults(&cj.Spec.JobTemplate.Spec.Template.Spec)
}

// The labels Kubernetes puts on a Job's pod template, and selects its pods
// by, unless the Job asks for a manual selector.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// generateJobSelector gives a new Job the selector and pod labels
// Kubernetes generates (its job strategy's PrepareForCreate): the pods are
// labelled with the Job's name and uid, and selected by the uid, so that a
// Job never claims another's pods. Labels the user set are kept, and
// validation refuses them if they disagree.
func generateJobSelector(j *batchv1.Job) {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		legacyJobNameLabel: j.Name, batchv1.JobNameLabel: j.Name,
		legacyControllerUIDLabel: string(j.UID), batchv1.ControllerUidLabel: string(j.UID),
	} {
		if _, ok := j.Spec.Template.Labels[k]; !ok {
			j.Spec.Template.Labels[k] = v
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(j.UID)
	}
}

// prepareCreate sets what only a create sets, once the object has its uid:
// the selector and pod labels Kubernetes generates for a Job. As in
// Kubernetes, where defaulting runs before the selector is generated, a
// Job whose template has labels gets those; one whose template has none
// gets the generated ones (job-name, controller-uid).
func prepareCreate(obj store.Object) {
	if j, ok := obj.(*batchv1.Job); ok {
		setJobLabels(j)
		generateJobSelector(j)
	}
}
