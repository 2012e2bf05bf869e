package registry

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // CronJob time zones, whatever the host has installed

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits Kubernetes puts on batch objects (pkg/apis/batch/validation).
const (
	maxParallelismForIndexedJob = 100000
	// cronJobNameMax leaves room for the "-<minutes>" suffix (11
	// characters) of the Jobs a CronJob names after itself, within a
	// 63-character label value.
	cronJobNameMax = 63 - 11
)

func validateJob(j *batchv1.Job) field.ErrorList {
	errs := validateMeta(j, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validateGeneratedSelector(j)...)
	return append(errs, validateJobSpec(&j.Spec, field.NewPath("spec"), false)...)
}

// validateJobSpec checks a Job's spec, or a CronJob's job template (whose
// selector is generated when the Job is made, so it must not have one).
func validateJobSpec(s *batchv1.JobSpec, path *field.Path, template bool) field.ErrorList {
	var errs field.ErrorList
	nonNegative := func(v *int32, name string) {
		if v != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*v), path.Child(name))...)
		}
	}
	nonNegative(s.Parallelism, "parallelism")
	nonNegative(s.Completions, "completions")
	nonNegative(s.BackoffLimit, "backoffLimit")
	nonNegative(s.TTLSecondsAfterFinished, "ttlSecondsAfterFinished")
	if d := s.ActiveDeadlineSeconds; d != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*d, path.Child("activeDeadlineSeconds"))...)
	}
	if m := s.CompletionMode; m != nil {
		errs = append(errs, validateEnum(*m, path.Child("completionMode"), batchv1.NonIndexedCompletion, batchv1.IndexedCompletion)...)
		if *m == batchv1.IndexedCompletion {
			if s.Completions == nil {
				errs = append(errs, field.Required(path.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
			}
			if s.Parallelism != nil && *s.Parallelism > maxParallelismForIndexedJob {
				errs = append(errs, field.Invalid(path.Child("parallelism"), *s.Parallelism,
					fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
			}
		}
	}
	if p := s.PodReplacementPolicy; p != nil {
		errs = append(errs, validateEnum(*p, path.Child("podReplacementPolicy"), batchv1.TerminatingOrFailed, batchv1.Failed)...)
		if *p == batchv1.TerminatingOrFailed && s.PodFailurePolicy != nil {
			errs = append(errs, field.NotSupported(path.Child("podReplacementPolicy"), *p, []string{string(batchv1.Failed)}))
		}
	}
	if s.BackoffLimitPerIndex != nil || s.MaxFailedIndexes != nil || s.SuccessPolicy != nil || s.ManagedBy != nil {
		errs = append(errs, unsupportedJobFields(s, path)...)
	}

	tmplPath := path.Child("template")
	switch {
	case template && s.Selector != nil:
		errs = append(errs, field.Invalid(path.Child("selector"), s.Selector, "`selector` will be auto-generated"))
	case template:
	case s.Selector == nil:
		errs = append(errs, field.Required(path.Child("selector"), ""))
	default:
		selErrs := metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))
		errs = append(errs, selErrs...)
		// Whether generated or not, the selector must match the pods the
		// Job makes.
		if sel, err := metav1.LabelSelectorAsSelector(s.Selector); len(selErrs) == 0 && err == nil && !sel.Matches(labels.Set(s.Template.Labels)) {
			errs = append(errs, field.Invalid(tmplPath.Child("metadata", "labels"), s.Template.Labels, "`selector` does not match template `labels`"))
		}
	}
	if template && s.ManualSelector != nil && *s.ManualSelector {
		errs = append(errs, field.NotSupported(path.Child("manualSelector"), *s.ManualSelector, []string{"nil", "false"}))
	}
	errs = append(errs, metav1validation.ValidateLabels(s.Template.Labels, tmplPath.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(s.Template.Annotations, tmplPath.Child("metadata", "annotations"))...)
	specPath := tmplPath.Child("spec")
	errs = append(errs, validatePodSpec(&s.Template.Spec, specPath)...)
	// A Job's pods end; one that restarts for ever never completes. An
	// unset policy counts as Always, which pod defaulting would make it.
	switch rp := s.Template.Spec.RestartPolicy; {
	case rp == corev1.RestartPolicyAlways || rp == "":
		errs = append(errs, field.Required(specPath.Child("restartPolicy"),
			fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(specPath.Child("restartPolicy"), rp,
			[]string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}))
	case s.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(specPath.Child("restartPolicy"), rp,
			fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	if s.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(s, path.Child("podFailurePolicy"))...)
	}
	return errs
}

// unsupportedJobFields refuses the Job fields Shoal's controller does not
// implement, rather than accept them and ignore them.
func unsupportedJobFields(s *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"backoffLimitPerIndex", s.BackoffLimitPerIndex != nil},
		{"maxFailedIndexes", s.MaxFailedIndexes != nil},
		{"successPolicy", s.SuccessPolicy != nil},
		{"managedBy", s.ManagedBy != nil},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(path.Child(f.name), "not supported by Shoal's job controller"))
		}
	}
	return errs
}

func validatePodFailurePolicy(s *batchv1.JobSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	containers := map[string]bool{}
	for _, c := range append(s.Template.Spec.InitContainers, s.Template.Spec.Containers...) {
		containers[c.Name] = true
	}
	rulesPath := path.Child("rules")
	if n := len(s.PodFailurePolicy.Rules); n > 20 {
		errs = append(errs, field.TooMany(rulesPath, n, 20))
	}
	for i, r := range s.PodFailurePolicy.Rules {
		p := rulesPath.Index(i)
		actions := []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount}
		if s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion {
			actions = append(actions, batchv1.PodFailurePolicyActionFailIndex)
		}
		if r.Action == "" {
			errs = append(errs, field.Required(p.Child("action"), ""))
		} else {
			errs = append(errs, validateEnum(r.Action, p.Child("action"), actions...)...)
		}
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(p, r, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(p, r, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if e := r.OnExitCodes; e != nil {
			ep := p.Child("onExitCodes")
			if e.ContainerName != nil && !containers[*e.ContainerName] {
				errs = append(errs, field.Invalid(ep.Child("containerName"), *e.ContainerName, "must be one of the container or initContainer names in the pod template"))
			}
			errs = append(errs, validateEnum(e.Operator, ep.Child("operator"), batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn)...)
			if e.Operator == "" {
				errs = append(errs, field.Required(ep.Child("operator"), ""))
			}
			if len(e.Values) == 0 {
				errs = append(errs, field.Invalid(ep.Child("values"), e.Values, "at least one value is required"))
			}
			for j, v := range e.Values {
				if j > 0 && v <= e.Values[j-1] {
					errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, "must be ordered"))
				}
				if v == 0 && e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
					errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, "must not be 0 for the In operator"))
				}
			}
		}
		for j, c := range r.OnPodConditions {
			cp := p.Child("onPodConditions").Index(j)
			if c.Type == "" {
				errs = append(errs, field.Required(cp.Child("type"), ""))
			}
			errs = append(errs, validateEnum(c.Status, cp.Child("status"), corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown)...)
		}
	}
	return errs
}

// validateGeneratedSelector checks that a Job whose selector was generated
// still has it and the pod labels it selects.
func validateGeneratedSelector(j *batchv1.Job) field.ErrorList {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return nil
	}
	labelsPath := field.NewPath("spec", "template", "metadata", "labels")
	if j.Spec.Template.Labels == nil {
		return field.ErrorList{field.Required(labelsPath, "")}
	}
	var errs field.ErrorList
	for _, l := range []struct{ key, want string }{
		{legacyControllerUIDLabel, string(j.UID)}, {legacyJobNameLabel, j.Name},
		{batchv1.ControllerUidLabel, string(j.UID)}, {batchv1.JobNameLabel, j.Name},
	} {
		if got, ok := j.Spec.Template.Labels[l.key]; !ok {
			errs = append(errs, field.Required(labelsPath.Key(l.key), fmt.Sprintf("must be %q", l.want)))
		} else if got != l.want {
			errs = append(errs, field.Invalid(labelsPath.Key(l.key), got, fmt.Sprintf("must be %q", l.want)))
		}
	}
	if sel := j.Spec.Selector; sel == nil || sel.MatchLabels[batchv1.ControllerUidLabel] != string(j.UID) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), sel, "`selector` not auto-generated"))
	}
	return errs
}

func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	path := field.NewPath("spec")
	errs := apivalidation.ValidateImmutableField(j.Spec.Selector, old.Spec.Selector, path.Child("selector"))
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.Template, old.Spec.Template, path.Child("template"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.CompletionMode, old.Spec.CompletionMode, path.Child("completionMode"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.PodFailurePolicy, old.Spec.PodFailurePolicy, path.Child("podFailurePolicy"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.ManualSelector, old.Spec.ManualSelector, path.Child("manualSelector"))...)
	// An Indexed Job may change its completions together with its
	// parallelism (an elastic Job); any other change of completions is
	// refused.
	elastic := j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion &&
		j.Spec.Completions != nil && j.Spec.Parallelism != nil && *j.Spec.Completions == *j.Spec.Parallelism
	if !elastic {
		errs = append(errs, apivalidation.ValidateImmutableField(j.Spec.Completions, old.Spec.Completions, path.Child("completions"))...)
	}
	return errs
}

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	errs := validateMeta(cj, true, apivalidation.NameIsDNSSubdomain)
	if len(cj.Name) > cronJobNameMax {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, fmt.Sprintf("must be no more than %d characters", cronJobNameMax)))
	}
	path := field.NewPath("spec")
	if cj.Spec.Schedule == "" {
		errs = append(errs, field.Required(path.Child("schedule"), ""))
	} else {
		errs = append(errs, validateSchedule(cj.Spec.Schedule, path.Child("schedule"))...)
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*d, path.Child("startingDeadlineSeconds"))...)
	}
	errs = append(errs, validateTimeZone(cj.Spec.TimeZone, path.Child("timeZone"))...)
	errs = append(errs, validateEnum(cj.Spec.ConcurrencyPolicy, path.Child("concurrencyPolicy"),
		batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent)...)
	for name, v := range map[string]*int32{
		"successfulJobsHistoryLimit": cj.Spec.SuccessfulJobsHistoryLimit, "failedJobsHistoryLimit": cj.Spec.FailedJobsHistoryLimit,
	} {
		if v != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*v), path.Child(name))...)
		}
	}
	tmpl := path.Child("jobTemplate")
	errs = append(errs, metav1validation.ValidateLabels(cj.Spec.JobTemplate.Labels, tmpl.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(cj.Spec.JobTemplate.Annotations, tmpl.Child("metadata", "annotations"))...)
	return append(errs, validateJobSpec(&cj.Spec.JobTemplate.Spec, tmpl.Child("spec"), true)...)
}

// ParseSchedule parses a CronJob's schedule as Kubernetes does: the
// standard five fields or a descriptor such as @hourly.
func ParseSchedule(schedule string) (cron.Schedule, error) {
	return cron.ParseStandard(schedule)
}

func validateSchedule(schedule string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := ParseSchedule(schedule); err != nil {
		errs = append(errs, field.Invalid(path, schedule, err.Error()))
	}
	if strings.Contains(schedule, "TZ") {
		errs = append(errs, field.Invalid(path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}

var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(tz *string, path *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(path, *tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(path, *tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	if strings.EqualFold(*tz, "Local") {
		return field.ErrorList{field.Invalid(path, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		return field.ErrorList{field.Invalid(path, *tz, err.Error())}
	}
	return nil
}
