package registry

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/api"
)

// Validate checks obj, about to be created, and returns one error per
// offending field, each with its full path (spec.ports[1].name), as the API
// server reports them in a 422 Status. The caller fills metadata.name from
// generateName first, so an empty name is an error here.
//
// Validate does not depend on SetDefaults having run: an empty field that
// SetDefaults would fill (a protocol, a restartPolicy) passes. Types without
// rules have no errors.
func Validate(obj runtime.Object) field.ErrorList {
	if errs, ok := validateRBAC(obj); ok {
		return errs
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		return validateNamespace(o)
	case *corev1.Service:
		return validateService(o)
	case *corev1.Pod:
		return validatePod(o)
	case *corev1.Node:
		return validateNode(o)
	case *corev1.Endpoints:
		return validateEndpoints(o)
	case *corev1.Event:
		return validateEvent(o)
	case *appsv1.Deployment:
		return validateDeployment(o)
	case *appsv1.ReplicaSet:
		return validateReplicaSet(o)
	case *discoveryv1.EndpointSlice:
		return validateEndpointSlice(o)
	case *coordinationv1.Lease:
		return validateLease(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	case *corev1.ServiceAccount:
		return validateServiceAccount(o)
	case *batchv1.Job:
		return validateJob(o)
	case *batchv1.CronJob:
		return validateCronJob(o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		return validateHPA(o)
	}
	return nil
}

// ValidateUpdate checks obj, about to replace old: everything Validate
// checks, plus the fields that may not change once set. Values the server
// allocated (a Service's clusterIP) must be carried over from old by the
// caller before this runs, as Kubernetes does, or they count as changed.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	if reflect.TypeOf(obj) != reflect.TypeOf(old) {
		return field.ErrorList{field.InternalError(field.NewPath("kind"), fmt.Errorf("update of %T with %T", old, obj))}
	}
	errs := Validate(obj)
	if m, ok := obj.(metav1.Object); ok {
		errs = append(errs, validateMetaUpdate(m, old.(metav1.Object))...)
	}
	errs = append(errs, validateRBACUpdate(obj, old)...)
	switch o := obj.(type) {
	case *corev1.Service:
		errs = append(errs, validateServiceUpdate(o, old.(*corev1.Service))...)
	case *corev1.Node:
		errs = append(errs, validateNodeUpdate(o, old.(*corev1.Node))...)
	case *corev1.Pod:
		errs = append(errs, validatePodSpecUpdate(&o.Spec, &old.(*corev1.Pod).Spec, field.NewPath("spec"))...)
	case *appsv1.Deployment:
		errs = append(errs, apivalidation.ValidateImmutableField(o.Spec.Selector, old.(*appsv1.Deployment).Spec.Selector, field.NewPath("spec", "selector"))...)
	case *appsv1.ReplicaSet:
		errs = append(errs, apivalidation.ValidateImmutableField(o.Spec.Selector, old.(*appsv1.ReplicaSet).Spec.Selector, field.NewPath("spec", "selector"))...)
	case *discoveryv1.EndpointSlice:
		// Consumers index slices by address type; a slice changes type by
		// being replaced.
		errs = append(errs, apivalidation.ValidateImmutableField(o.AddressType, old.(*discoveryv1.EndpointSlice).AddressType, field.NewPath("addressType"))...)
	case *corev1.ConfigMap:
		errs = append(errs, validateConfigMapUpdate(o, old.(*corev1.ConfigMap))...)
	case *corev1.Secret:
		errs = append(errs, validateSecretUpdate(o, old.(*corev1.Secret))...)
	case *batchv1.Job:
		errs = append(errs, validateJobUpdate(o, old.(*batchv1.Job))...)
	}
	return errs
}

// validateMeta checks metadata for create. nameFn is the naming rule of the
// type: DNS-1123 labels for Namespaces, DNS-1035 labels for Services (their
// names become DNS labels and environment variable prefixes), DNS-1123
// subdomains otherwise.
func validateMeta(obj metav1.Object, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return apivalidation.ValidateObjectMetaAccessor(obj, namespaced, nameFn, field.NewPath("metadata"))
}

// validateMetaUpdate is narrower than apimachinery's
// ValidateObjectMetaAccessorUpdate: resourceVersion, uid and timestamps are
// the store's to manage, not the client's to get right.
func validateMetaUpdate(obj, old metav1.Object) field.ErrorList {
	path := field.NewPath("metadata")
	errs := apivalidation.ValidateImmutableField(obj.GetName(), old.GetName(), path.Child("name"))
	errs = append(errs, apivalidation.ValidateImmutableField(obj.GetNamespace(), old.GetNamespace(), path.Child("namespace"))...)
	// A finalizer added during deletion could hold the object forever.
	if old.GetDeletionTimestamp() != nil {
		errs = append(errs, apivalidation.ValidateNoNewFinalizers(obj.GetFinalizers(), old.GetFinalizers(), path.Child("finalizers"))...)
	}
	return errs
}

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := validateMeta(l, true, apivalidation.NameIsDNSSubdomain)
	path := field.NewPath("spec")
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(path.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if t := l.Spec.LeaseTransitions; t != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*t), path.Child("leaseTransitions"))...)
	}
	// A node agent's load report: a bad one is refused rather than read as
	// no load by the scheduler.
	if _, _, err := api.LoadReportOf(l); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations").Key(api.AnnotationLoad), l.Annotations[api.AnnotationLoad], err.Error()))
	}
	return errs
}

// validateEnum reports value unless it is one of supported. An empty value
// passes: it is what SetDefaults fills in.
func validateEnum[T ~string](value T, path *field.Path, supported ...T) field.ErrorList {
	if value == "" || slices.Contains(supported, value) {
		return nil
	}
	names := make([]string, len(supported))
	for i, s := range supported {
		names[i] = string(s)
	}
	return field.ErrorList{field.NotSupported(path, value, names)}
}

func validateProtocol(p corev1.Protocol, path *field.Path) field.ErrorList {
	return validateEnum(p, path, corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)
}

func validatePortNum(port int32, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(path, port, msg))
	}
	return errs
}

// validatePortNumOrName checks a reference to a container port, by number
// or by the IANA_SVC_NAME of a named containerPort.
func validatePortNumOrName(port intstr.IntOrString, path *field.Path) field.ErrorList {
	if port.Type == intstr.Int {
		return validatePortNum(port.IntVal, path)
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		errs = append(errs, field.Invalid(path, port.StrVal, msg))
	}
	return errs
}

func validateDNS1123Label(value string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(path, value, msg))
	}
	return errs
}

func validateDNS1123Subdomain(value string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(path, value, msg))
	}
	return errs
}

// validateIPFamily checks that value is a canonical IP address of the given
// family, IPv4 or IPv6.
func validateIPFamily(value string, family corev1.IPFamily, path *field.Path) field.ErrorList {
	if errs := validation.IsValidIP(path, value); len(errs) > 0 {
		return errs
	}
	if is4 := netip.MustParseAddr(value).Is4(); is4 != (family == corev1.IPv4Protocol) {
		return field.ErrorList{field.Invalid(path, value, fmt.Sprintf("must be an %s address", family))}
	}
	return nil
}
