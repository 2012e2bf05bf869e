package registry

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shoalmesh/shoal/api"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Node ports are not opened, but a nodePort outside the range every
// Kubernetes cluster uses by default would make a manifest that works here
// fail elsewhere.
const (
	minNodePort = 30000
	maxNodePort = 32767
)

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := validateMeta(ns, false, apivalidation.NameIsDNSLabel)
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, apivalidation.ValidateFinalizerName(string(f), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return append(errs, validateEnum(ns.Status.Phase, field.NewPath("status", "phase"), corev1.NamespaceActive, corev1.NamespaceTerminating)...)
}

func validateNode(n *corev1.Node) field.ErrorList {
	errs := validateMeta(n, false, apivalidation.NameIsDNSSubdomain)
	path := field.NewPath("spec")
	for i, cidr := range n.Spec.PodCIDRs {
		errs = append(errs, validation.IsValidCIDR(path.Child("podCIDRs").Index(i), cidr)...)
	}
	if n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(path.Child("podCIDRs").Index(0), n.Spec.PodCIDRs[0], "must match `spec.podCIDR`"))
	}
	if len(n.Spec.PodCIDRs) > 1 {
		errs = append(errs, field.TooMany(path.Child("podCIDRs"), len(n.Spec.PodCIDRs), 1))
	}
	for i, t := range n.Spec.Taints {
		p := path.Child("taints").Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
		}
		if t.Effect == "" {
			errs = append(errs, field.Required(p.Child("effect"), ""))
		}
		errs = append(errs, validateEnum(t.Effect, p.Child("effect"), corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
	}
	return errs
}

func validateEvent(e *corev1.Event) field.ErrorList {
	errs := validateMeta(e, true, apivalidation.NameIsDNSSubdomain)
	path := field.NewPath("involvedObject")
	if e.InvolvedObject.Kind == "" {
		errs = append(errs, field.Required(path.Child("kind"), ""))
	}
	if e.InvolvedObject.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), ""))
	}
	// An event is stored in the namespace of what it is about, so that it
	// is listed and deleted with it.
	if ns := e.InvolvedObject.Namespace; ns != "" && ns != e.Namespace {
		errs = append(errs, field.Invalid(path.Child("namespace"), ns, "does not match event.namespace"))
	}
	return append(errs, apivalidation.ValidateNonnegativeField(int64(e.Count), field.NewPath("count"))...)
}

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := validateMeta(ep, true, apivalidation.NameIsDNSSubdomain)
	for i, ss := range ep.Subsets {
		path := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(path, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(&a, path.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(&a, path.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			p := path.Child("ports").Index(j)
			// Names tell the ports of a multi-port service apart.
			if port.Name == "" && len(ss.Ports) > 1 {
				errs = append(errs, field.Required(p.Child("name"), ""))
			} else if port.Name != "" {
				errs = append(errs, validateDNS1123Label(port.Name, p.Child("name"))...)
			}
			errs = append(errs, validatePortNum(port.Port, p.Child("port"))...)
			errs = append(errs, validateProtocol(port.Protocol, p.Child("protocol"))...)
		}
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, path *field.Path) field.ErrorList {
	errs := validation.IsValidIP(path.Child("ip"), a.IP)
	if a.Hostname != "" {
		errs = append(errs, validateDNS1123Label(a.Hostname, path.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, validateDNS1123Subdomain(*a.NodeName, path.Child("nodeName"))...)
	}
	return errs
}

func validateService(svc *corev1.Service) field.ErrorList {
	errs := validateMeta(svc, true, apivalidation.NameIsDNS1035Label)
	if v, ok := svc.Annotations[api.AnnotationLBPolicy]; ok {
		if err := api.ValidateLBPolicy(v); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations").Key(api.AnnotationLBPolicy), v, err.Error()))
		}
	}
	spec := &svc.Spec
	path := field.NewPath("spec")
	errs = append(errs, validateEnum(spec.Type, path.Child("type"),
		corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)...)

	if spec.Type == corev1.ServiceTypeExternalName {
		errs = append(errs, validateExternalName(spec, path)...)
	} else {
		errs = append(errs, validateClusterIPs(spec, path)...)
		// A headless service may exist only to publish DNS records for
		// its pods, so it needs no ports.
		if len(spec.Ports) == 0 && spec.ClusterIP != corev1.ClusterIPNone {
			errs = append(errs, field.Required(path.Child("ports"), ""))
		}
	}
	errs = append(errs, validateServicePorts(spec, path.Child("ports"))...)
	errs = append(errs, metav1validation.ValidateLabels(spec.Selector, path.Child("selector"))...)

	errs = append(errs, validateEnum(spec.SessionAffinity, path.Child("sessionAffinity"), corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP)...)
	if cfg := spec.SessionAffinityConfig; cfg != nil {
		if spec.SessionAffinity != corev1.ServiceAffinityClientIP {
			errs = append(errs, field.Forbidden(path.Child("sessionAffinityConfig"), "may only be set when `sessionAffinity` is ClientIP"))
		} else if cfg.ClientIP != nil && cfg.ClientIP.TimeoutSeconds != nil {
			if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > 86400 {
				errs = append(errs, field.Invalid(path.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t, "must be greater than 0 and less than or equal to 86400"))
			}
		}
	}

	if p := spec.IPFamilyPolicy; p != nil {
		errs = append(errs, validateEnum(*p, path.Child("ipFamilyPolicy"),
			corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack)...)
	}
	if len(spec.IPFamilies) > 2 {
		errs = append(errs, field.TooMany(path.Child("ipFamilies"), len(spec.IPFamilies), 2))
	}
	for i, f := range spec.IPFamilies {
		p := path.Child("ipFamilies").Index(i)
		if f == "" {
			errs = append(errs, field.Required(p, ""))
		} else if slices.Contains(spec.IPFamilies[:i], f) {
			errs = append(errs, field.Duplicate(p, f))
		}
		errs = append(errs, validateEnum(f, p, corev1.IPv4Protocol, corev1.IPv6Protocol)...)
	}

	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validation.IsValidIP(path.Child("externalIPs").Index(i), ip)...)
	}
	for i, cidr := range spec.LoadBalancerSourceRanges {
		errs = append(errs, validation.IsValidCIDR(path.Child("loadBalancerSourceRanges").Index(i), cidr)...)
	}
	if p := spec.ExternalTrafficPolicy; p != "" {
		if spec.Type != corev1.ServiceTypeNodePort && spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Invalid(path.Child("externalTrafficPolicy"), p, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
		} else {
			errs = append(errs, validateEnum(p, path.Child("externalTrafficPolicy"), corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
		}
	}
	if p := spec.InternalTrafficPolicy; p != nil {
		errs = append(errs, validateEnum(*p, path.Child("internalTrafficPolicy"), corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)...)
	}
	return errs
}

// validateExternalName checks a service that is only a CNAME: it has a
// name to point at and none of the fields of an allocated virtual IP.
func validateExternalName(spec *corev1.ServiceSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.ClusterIP != "" {
		errs = append(errs, field.Forbidden(path.Child("clusterIP"), "may not be set for ExternalName services"))
	}
	if len(spec.ClusterIPs) > 0 {
		errs = append(errs, field.Forbidden(path.Child("clusterIPs"), "may not be set for ExternalName services"))
	}
	if len(spec.IPFamilies) > 0 {
		errs = append(errs, field.Forbidden(path.Child("ipFamilies"), "may not be set for ExternalName services"))
	}
	if spec.IPFamilyPolicy != nil {
		errs = append(errs, field.Forbidden(path.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
	}
	// A trailing dot marks the name as fully qualified.
	cname := strings.TrimSuffix(spec.ExternalName, ".")
	if cname == "" {
		return append(errs, field.Required(path.Child("externalName"), ""))
	}
	for _, msg := range validation.IsDNS1123Subdomain(cname) {
		errs = append(errs, field.Invalid(path.Child("externalName"), spec.ExternalName, msg))
	}
	return errs
}

// validateClusterIPs checks the form of clusterIP and clusterIPs; whether
// an address is inside the service range is the allocator's to say.
func validateClusterIPs(spec *corev1.ServiceSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch spec.ClusterIP {
	case "":
	case corev1.ClusterIPNone:
		if spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Invalid(path.Child("clusterIP"), spec.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	default:
		// Shoal's service network is IPv4 only.
		errs = append(errs, validateIPFamily(spec.ClusterIP, corev1.IPv4Protocol, path.Child("clusterIP"))...)
	}
	ips := path.Child("clusterIPs")
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.TooMany(ips, len(spec.ClusterIPs), 2))
	}
	for i, ip := range spec.ClusterIPs {
		switch {
		case i == 0 && spec.ClusterIP != "" && ip != spec.ClusterIP:
			errs = append(errs, field.Invalid(ips.Index(i), ip, "must match `spec.clusterIP`"))
		case ip == corev1.ClusterIPNone:
			if len(spec.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(ips.Index(i), ip, "'None' must be the first and only value"))
			}
		default:
			errs = append(errs, validation.IsValidIP(ips.Index(i), ip)...)
		}
	}
	return errs
}

func validateServicePorts(spec *corev1.ServiceSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	ports := map[string]bool{}
	nodePorts := map[string]bool{}
	for i, sp := range spec.Ports {
		p := path.Index(i)
		switch {
		case sp.Name == "" && len(spec.Ports) > 1:
			// Endpoints match service ports by name.
			errs = append(errs, field.Required(p.Child("name"), "must be set when a service has more than one port"))
		case sp.Name != "":
			errs = append(errs, validateDNS1123Label(sp.Name, p.Child("name"))...)
			if names[sp.Name] {
				errs = append(errs, field.Duplicate(p.Child("name"), sp.Name))
			}
			names[sp.Name] = true
		}
		errs = append(errs, validatePortNum(sp.Port, p.Child("port"))...)
		errs = append(errs, validateProtocol(sp.Protocol, p.Child("protocol"))...)
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		key := fmt.Sprintf("%d/%s", sp.Port, proto)
		if ports[key] {
			errs = append(errs, field.Duplicate(p, key))
		}
		ports[key] = true

		// An unset targetPort is the port itself.
		if sp.TargetPort != intstr.FromInt32(0) && sp.TargetPort != intstr.FromString("") {
			errs = append(errs, validatePortNumOrName(sp.TargetPort, p.Child("targetPort"))...)
		}
		if sp.NodePort == 0 {
			continue
		}
		if spec.Type != corev1.ServiceTypeNodePort && spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(p.Child("nodePort"), "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
			continue
		}
		if sp.NodePort < minNodePort || sp.NodePort > maxNodePort {
			errs = append(errs, field.Invalid(p.Child("nodePort"), sp.NodePort, fmt.Sprintf("must be in the node port range %d-%d", minNodePort, maxNodePort)))
		}
		key = fmt.Sprintf("%d/%s", sp.NodePort, proto)
		if nodePorts[key] {
			errs = append(errs, field.Duplicate(p.Child("nodePort"), sp.NodePort))
		}
		nodePorts[key] = true
	}
	return errs
}

func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	// Changing to or from ExternalName releases or allocates the address,
	// so only then may it change.
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	// Proxies and DNS caches hold the address; changing it in place would
	// strand every client that resolved it.
	path := field.NewPath("spec")
	var errs field.ErrorList
	if old.Spec.ClusterIP != "" && svc.Spec.ClusterIP != old.Spec.ClusterIP {
		errs = append(errs, field.Invalid(path.Child("clusterIP"), svc.Spec.ClusterIP, "field is immutable"))
	}
	if len(old.Spec.ClusterIPs) > 0 && !slices.Equal(svc.Spec.ClusterIPs, old.Spec.ClusterIPs) {
		errs = append(errs, field.Invalid(path.Child("clusterIPs"), svc.Spec.ClusterIPs, "field is immutable"))
	}
	return errs
}

func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := validateMeta(pod, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validatePodSpec(&pod.Spec, field.NewPath("spec"))...)
}

// validatePodSpec checks a pod's spec at path, which is spec for a Pod and
// spec.template.spec for the workloads that stamp pods out.
func validatePodSpec(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("containers"), "must have at least one container"))
	}
	volumes := map[string]bool{}
	for i, v := range spec.Volumes {
		p := path.Child("volumes").Index(i).Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(p, ""))
		case volumes[v.Name]:
			errs = append(errs, field.Duplicate(p, v.Name))
		default:
			errs = append(errs, validateDNS1123Label(v.Name, p)...)
		}
		volumes[v.Name] = true
	}
	// Container names are unique across init and app containers, and port
	// names across the pod, since a Service's targetPort names a port of
	// the pod, not of one container.
	c := containerCheck{names: map[string]bool{}, portNames: map[string]bool{}, volumes: volumes}
	for i := range spec.InitContainers {
		errs = append(errs, c.validate(&spec.InitContainers[i], path.Child("initContainers").Index(i))...)
	}
	for i := range spec.Containers {
		errs = append(errs, c.validate(&spec.Containers[i], path.Child("containers").Index(i))...)
	}

	errs = append(errs, validateEnum(spec.RestartPolicy, path.Child("restartPolicy"),
		corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)...)
	errs = append(errs, validateEnum(spec.DNSPolicy, path.Child("dnsPolicy"),
		corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone)...)
	if spec.DNSPolicy == corev1.DNSNone && (spec.DNSConfig == nil || len(spec.DNSConfig.Nameservers) == 0) {
		errs = append(errs, field.Required(path.Child("dnsConfig", "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
	}
	if cfg := spec.DNSConfig; cfg != nil {
		for i, ns := range cfg.Nameservers {
			errs = append(errs, validation.IsValidIP(path.Child("dnsConfig", "nameservers").Index(i), ns)...)
		}
	}
	if g := spec.TerminationGracePeriodSeconds; g != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*g, path.Child("terminationGracePeriodSeconds"))...)
	}
	if d := spec.ActiveDeadlineSeconds; d != nil && *d < 1 {
		errs = append(errs, field.Invalid(path.Child("activeDeadlineSeconds"), *d, "must be greater than or equal to 1"))
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNS1123Label(spec.Hostname, path.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNS1123Label(spec.Subdomain, path.Child("subdomain"))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.NodeName, path.Child("nodeName"))...)
	}
	if spec.ServiceAccountName != "" {
		errs = append(errs, validateDNS1123Subdomain(spec.ServiceAccountName, path.Child("serviceAccountName"))...)
	}
	return errs
}

// containerCheck carries what must be unique, or must exist, across the
// containers of one pod.
type containerCheck struct {
	names     map[string]bool
	portNames map[string]bool
	volumes   map[string]bool
}

func (cc containerCheck) validate(c *corev1.Container, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case c.Name == "":
		errs = append(errs, field.Required(path.Child("name"), ""))
	case cc.names[c.Name]:
		errs = append(errs, field.Duplicate(path.Child("name"), c.Name))
	default:
		errs = append(errs, validateDNS1123Label(c.Name, path.Child("name"))...)
	}
	cc.names[c.Name] = true
	// A container without an image runs a program of the node's
	// filesystem (the node agent's image-less containers): its command.
	if c.Image == "" && len(c.Command) == 0 {
		errs = append(errs, field.Required(path.Child("image"), "either image or command must be set"))
	}
	errs = append(errs, validateEnum(c.ImagePullPolicy, path.Child("imagePullPolicy"), corev1.PullAlways, corev1.PullNever, corev1.PullIfNotPresent)...)
	errs = append(errs, validateEnum(c.TerminationMessagePolicy, path.Child("terminationMessagePolicy"),
		corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError)...)

	for i, port := range c.Ports {
		p := path.Child("ports").Index(i)
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
			}
			if cc.portNames[port.Name] {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			}
			cc.portNames[port.Name] = true
		}
		errs = append(errs, validatePortNum(port.ContainerPort, p.Child("containerPort"))...)
		if port.HostPort != 0 {
			errs = append(errs, validatePortNum(port.HostPort, p.Child("hostPort"))...)
		}
		if port.HostIP != "" {
			errs = append(errs, validation.IsValidIP(p.Child("hostIP"), port.HostIP)...)
		}
		errs = append(errs, validateProtocol(port.Protocol, p.Child("protocol"))...)
	}

	for i, env := range c.Env {
		p := path.Child("env").Index(i)
		if env.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		for _, msg := range validation.IsEnvVarName(env.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), env.Name, msg))
		}
		if env.Value != "" && env.ValueFrom != nil {
			errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
		}
	}

	for i, m := range c.VolumeMounts {
		p := path.Child("volumeMounts").Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if !cc.volumes[m.Name] {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		}
	}

	errs = append(errs, validateResources(&c.Resources, path.Child("resources"))...)
	// Liveness and startup probes act on the first failure after a success,
	// so needing more than one success makes no sense for them.
	errs = append(errs, validateProbe(c.LivenessProbe, path.Child("livenessProbe"), true)...)
	errs = append(errs, validateProbe(c.ReadinessProbe, path.Child("readinessProbe"), false)...)
	errs = append(errs, validateProbe(c.StartupProbe, path.Child("startupProbe"), true)...)
	return errs
}

func validateResources(r *corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range r.Limits {
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(path.Child("limits").Key(string(name)), q.String(), apivalidation.IsNegativeErrorMsg))
		}
	}
	for name, q := range r.Requests {
		p := path.Child("requests").Key(string(name))
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(p, q.String(), apivalidation.IsNegativeErrorMsg))
		}
		if limit, ok := r.Limits[name]; ok && q.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}
	return errs
}

func validateProbe(probe *corev1.Probe, path *field.Path, singleSuccess bool) field.ErrorList {
	if probe == nil {
		return nil
	}
	errs := validateProbeHandler(&probe.ProbeHandler, path)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(probe.InitialDelaySeconds), path.Child("initialDelaySeconds"))...)
	// Zero is unset and defaults to a valid value.
	for _, f := range []struct {
		name  string
		value int32
	}{
		{"timeoutSeconds", probe.TimeoutSeconds},
		{"periodSeconds", probe.PeriodSeconds},
		{"successThreshold", probe.SuccessThreshold},
		{"failureThreshold", probe.FailureThreshold},
	} {
		if f.value < 0 {
			errs = append(errs, field.Invalid(path.Child(f.name), f.value, "must be greater than or equal to 1"))
		}
	}
	if singleSuccess && probe.SuccessThreshold > 1 {
		errs = append(errs, field.Invalid(path.Child("successThreshold"), probe.SuccessThreshold, "must be 1"))
	}
	if g := probe.TerminationGracePeriodSeconds; g != nil && *g <= 0 {
		errs = append(errs, field.Invalid(path.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
	}
	return errs
}

// validateProbeHandler checks that a probe does exactly one thing.
func validateProbeHandler(h *corev1.ProbeHandler, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	var handlers []string
	if h.Exec != nil {
		handlers = append(handlers, "exec")
		if len(h.Exec.Command) == 0 {
			errs = append(errs, field.Required(path.Child("exec", "command"), ""))
		}
	}
	if h.HTTPGet != nil {
		handlers = append(handlers, "httpGet")
		errs = append(errs, validatePortNumOrName(h.HTTPGet.Port, path.Child("httpGet", "port"))...)
		errs = append(errs, validateEnum(h.HTTPGet.Scheme, path.Child("httpGet", "scheme"), corev1.URISchemeHTTP, corev1.URISchemeHTTPS)...)
	}
	if h.TCPSocket != nil {
		handlers = append(handlers, "tcpSocket")
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, path.Child("tcpSocket", "port"))...)
	}
	if h.GRPC != nil {
		handlers = append(handlers, "grpc")
		errs = append(errs, validatePortNum(h.GRPC.Port, path.Child("grpc", "port"))...)
	}
	switch {
	case len(handlers) == 0:
		errs = append(errs, field.Required(path, "must specify a handler type"))
	case len(handlers) > 1:
		errs = append(errs, field.Forbidden(path.Child(handlers[1]), "may not specify more than 1 handler type"))
	}
	return errs
}

// validatePodSpecUpdate allows what Kubernetes allows on a running pod:
// new images, a shorter deadline, more tolerations. Shoal's scheduler binds
// a pod by setting spec.nodeName, so that may go from unset to set once.
// Anything else means a new pod.
func validatePodSpecUpdate(spec, old *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if old.ActiveDeadlineSeconds != nil {
		p := path.Child("activeDeadlineSeconds")
		switch {
		case spec.ActiveDeadlineSeconds == nil:
			errs = append(errs, field.Forbidden(p, "may not be removed once set"))
		case *spec.ActiveDeadlineSeconds > *old.ActiveDeadlineSeconds:
			errs = append(errs, field.Invalid(p, *spec.ActiveDeadlineSeconds, "must be less than or equal to previous value"))
		}
	}
	for _, t := range old.Tolerations {
		kept := slices.ContainsFunc(spec.Tolerations, func(n corev1.Toleration) bool {
			return apiequality.Semantic.DeepEqual(n, t)
		})
		if !kept {
			errs = append(errs, field.Forbidden(path.Child("tolerations"), "existing toleration can not be modified or removed"))
			break
		}
	}
	if old.NodeName != "" && spec.NodeName != old.NodeName {
		errs = append(errs, field.Invalid(path.Child("nodeName"), spec.NodeName, "field is immutable once the pod is bound"))
	}

	rest := spec.DeepCopy()
	rest.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	rest.Tolerations = old.Tolerations
	rest.NodeName = old.NodeName
	for i := range min(len(rest.Containers), len(old.Containers)) {
		rest.Containers[i].Image = old.Containers[i].Image
	}
	for i := range min(len(rest.InitContainers), len(old.InitContainers)) {
		rest.InitContainers[i].Image = old.InitContainers[i].Image
	}
	if !apiequality.Semantic.DeepEqual(rest, old) {
		errs = append(errs, field.Forbidden(path, "pod updates may not change fields other than `spec.containers[*].image`, "+
			"`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions), "+
			"or `spec.nodeName` (only when unset)"))
	}
	return errs
}
