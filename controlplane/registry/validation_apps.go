package registry

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := validateMeta(d, true, apivalidation.NameIsDNSSubdomain)
	path := field.NewPath("spec")
	errs = append(errs, validateReplicas(d.Spec.Replicas, path.Child("replicas"))...)
	errs = append(errs, validateSelectorAndTemplate(d.Spec.Selector, &d.Spec.Template, path)...)
	errs = append(errs, validateStrategy(&d.Spec.Strategy, path.Child("strategy"))...)
	if l := d.Spec.RevisionHistoryLimit; l != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*l), path.Child("revisionHistoryLimit"))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(d.Spec.MinReadySeconds), path.Child("minReadySeconds"))...)
	// A rollout cannot make progress before its pods count as available.
	if p := d.Spec.ProgressDeadlineSeconds; p != nil && *p <= d.Spec.MinReadySeconds {
		errs = append(errs, field.Invalid(path.Child("progressDeadlineSeconds"), *p, "must be greater than minReadySeconds"))
	}
	return errs
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := validateMeta(rs, true, apivalidation.NameIsDNSSubdomain)
	path := field.NewPath("spec")
	errs = append(errs, validateReplicas(rs.Spec.Replicas, path.Child("replicas"))...)
	errs = append(errs, validateSelectorAndTemplate(rs.Spec.Selector, &rs.Spec.Template, path)...)
	return append(errs, apivalidation.ValidateNonnegativeField(int64(rs.Spec.MinReadySeconds), path.Child("minReadySeconds"))...)
}

func validateReplicas(replicas *int32, path *field.Path) field.ErrorList {
	if replicas == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*replicas), path)
}

// validateSelectorAndTemplate checks that a controller can find the pods it
// makes: a selector that matched nothing, or everything, or not its own
// template, would have it create pods without end or adopt strangers.
func validateSelectorAndTemplate(sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	selPath := path.Child("selector")
	tmplPath := path.Child("template")
	labelsPath := tmplPath.Child("metadata", "labels")
	errs = append(errs, metav1validation.ValidateLabels(tmpl.Labels, labelsPath)...)
	errs = append(errs, apivalidation.ValidateAnnotations(tmpl.Annotations, tmplPath.Child("metadata", "annotations"))...)
	switch {
	case sel == nil:
		errs = append(errs, field.Required(selPath, ""))
	case len(sel.MatchLabels)+len(sel.MatchExpressions) == 0:
		errs = append(errs, field.Invalid(selPath, sel, "empty selector is invalid"))
	default:
		selErrs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, selPath)
		errs = append(errs, selErrs...)
		if len(selErrs) > 0 {
			break
		}
		selector, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			errs = append(errs, field.Invalid(selPath, sel, err.Error()))
		} else if !selector.Matches(labels.Set(tmpl.Labels)) {
			errs = append(errs, field.Invalid(labelsPath, tmpl.Labels, "`selector` does not match template `labels`"))
		}
	}

	specPath := tmplPath.Child("spec")
	errs = append(errs, validatePodSpec(&tmpl.Spec, specPath)...)
	// A controller replaces pods that end, so they must not end on purpose.
	if p := tmpl.Spec.RestartPolicy; p == corev1.RestartPolicyOnFailure || p == corev1.RestartPolicyNever {
		errs = append(errs, field.NotSupported(specPath.Child("restartPolicy"), p, []string{string(corev1.RestartPolicyAlways)}))
	}
	if tmpl.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(specPath.Child("activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"))
	}
	return errs
}

func validateStrategy(s *appsv1.DeploymentStrategy, path *field.Path) field.ErrorList {
	switch s.Type {
	case "", appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return nil
		}
		return validateRollingUpdate(s.RollingUpdate, path.Child("rollingUpdate"))
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(path.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
		return nil
	}
	return field.ErrorList{field.NotSupported(path.Child("type"), s.Type, []string{
		string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType),
	})}
}

func validateRollingUpdate(ru *appsv1.RollingUpdateDeployment, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	surgePath, unavailPath := path.Child("maxSurge"), path.Child("maxUnavailable")
	surge, surgeErrs := intOrPercent(ru.MaxSurge, surgePath)
	unavail, unavailErrs := intOrPercent(ru.MaxUnavailable, unavailPath)
	errs = append(errs, surgeErrs...)
	errs = append(errs, unavailErrs...)
	if ru.MaxUnavailable != nil && ru.MaxUnavailable.Type == intstr.String && unavail > 100 {
		errs = append(errs, field.Invalid(unavailPath, ru.MaxUnavailable.String(), "must not be greater than 100%"))
	}
	// With neither room to add a pod nor to lose one, a rollout cannot
	// take a single step.
	if ru.MaxSurge != nil && ru.MaxUnavailable != nil && len(surgeErrs)+len(unavailErrs) == 0 && surge == 0 && unavail == 0 {
		errs = append(errs, field.Invalid(unavailPath, ru.MaxUnavailable.String(), "may not be 0 when `maxSurge` is 0"))
	}
	return errs
}

// intOrPercent returns the number or percentage in v, which must not be
// negative.
func intOrPercent(v *intstr.IntOrString, path *field.Path) (int, field.ErrorList) {
	if v == nil {
		return 0, nil
	}
	if v.Type == intstr.Int {
		return int(v.IntVal), apivalidation.ValidateNonnegativeField(int64(v.IntVal), path)
	}
	if msgs := validation.IsValidPercent(v.StrVal); len(msgs) > 0 {
		errs := make(field.ErrorList, 0, len(msgs))
		for _, msg := range msgs {
			errs = append(errs, field.Invalid(path, v.StrVal, msg))
		}
		return 0, errs
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0, field.ErrorList{field.Invalid(path, v.StrVal, err.Error())}
	}
	return n, nil
}
