package registry

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateRBAC checks the rbac.authorization.k8s.io objects as Kubernetes'
// pkg/apis/rbac/validation does; ok is false for every other type.
func validateRBAC(obj runtime.Object) (errs field.ErrorList, ok bool) {
	switch o := obj.(type) {
	case *rbacv1.Role:
		errs = validateMeta(o, true, rbacName)
		for i, rule := range o.Rules {
			errs = append(errs, validatePolicyRule(rule, true, field.NewPath("rules").Index(i))...)
		}
	case *rbacv1.ClusterRole:
		errs = validateMeta(o, false, rbacName)
		for i, rule := range o.Rules {
			errs = append(errs, validatePolicyRule(rule, false, field.NewPath("rules").Index(i))...)
		}
		errs = append(errs, validateAggregationRule(o.AggregationRule)...)
	case *rbacv1.RoleBinding:
		errs = validateMeta(o, true, rbacName)
		errs = append(errs, validateRoleRef(o.RoleRef, "Role", "ClusterRole")...)
		for i, s := range o.Subjects {
			errs = append(errs, validateSubject(s, true, field.NewPath("subjects").Index(i))...)
		}
	case *rbacv1.ClusterRoleBinding:
		errs = validateMeta(o, false, rbacName)
		errs = append(errs, validateRoleRef(o.RoleRef, "ClusterRole")...)
		for i, s := range o.Subjects {
			errs = append(errs, validateSubject(s, false, field.NewPath("subjects").Index(i))...)
		}
	default:
		return nil, false
	}
	return errs, true
}

// validateRBACUpdate adds what may not change: a binding's roleRef, since
// who may bind a role is checked when the binding is made.
func validateRBACUpdate(obj, old runtime.Object) field.ErrorList {
	var ref, oldRef rbacv1.RoleRef
	switch o := obj.(type) {
	case *rbacv1.RoleBinding:
		ref, oldRef = o.RoleRef, old.(*rbacv1.RoleBinding).RoleRef
	case *rbacv1.ClusterRoleBinding:
		ref, oldRef = o.RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef
	default:
		return nil
	}
	if ref != oldRef {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

// rbacName is Kubernetes' minimal rule for the names of roles and bindings:
// any path segment ("system:node:n1" is valid).
func rbacName(name string, prefix bool) []string {
	return path.IsValidPathSegmentName(name)
}

func validatePolicyRule(rule rbacv1.PolicyRule, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(rule.Verbs) == 0 {
		errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		if namespaced {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return errs
	}
	if len(rule.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
	}
	return errs
}

func validateAggregationRule(rule *rbacv1.AggregationRule) field.ErrorList {
	if rule == nil {
		return nil
	}
	p := field.NewPath("aggregationRule", "clusterRoleSelectors")
	if len(rule.ClusterRoleSelectors) == 0 {
		return field.ErrorList{field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil")}
	}
	var errs field.ErrorList
	for i := range rule.ClusterRoleSelectors {
		sel := &rule.ClusterRoleSelectors[i]
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p.Index(i))...)
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			errs = append(errs, field.Invalid(p.Index(i), sel, "invalid label selector."))
		}
	}
	return errs
}

func validateRoleRef(ref rbacv1.RoleRef, kinds ...string) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	known := false
	for _, k := range kinds {
		known = known || ref.Kind == k
	}
	if !known {
		errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range rbacName(ref.Name, false) {
			errs = append(errs, field.Invalid(p.Child("name"), ref.Name, msg))
		}
	}
	return errs
}

// validateSubject checks one subject of a binding: a ServiceAccount (core
// group; in a ClusterRoleBinding it must name its namespace), a User or a
// Group (rbac.authorization.k8s.io).
func validateSubject(s rbacv1.Subject, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range apivalidation.NameIsDNSSubdomain(s.Name, false) {
				errs = append(errs, field.Invalid(p.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		if !namespaced && s.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.Name == "" {
			errs = append(errs, field.Invalid(p.Child("name"), s.Name, strings.ToLower(s.Kind)+" name cannot be empty"))
		}
		if s.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}

// setRBACDefaults fills what Kubernetes' rbac/v1 defaults fill: a binding's
// roleRef.apiGroup and a User or Group subject's apiGroup.
func setRBACDefaults(obj runtime.Object) {
	var ref *rbacv1.RoleRef
	var subjects []rbacv1.Subject
	switch o := obj.(type) {
	case *rbacv1.RoleBinding:
		ref, subjects = &o.RoleRef, o.Subjects
	case *rbacv1.ClusterRoleBinding:
		ref, subjects = &o.RoleRef, o.Subjects
	default:
		return
	}
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		if s := &subjects[i]; s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}
