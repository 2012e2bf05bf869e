package registry

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Defaults Kubernetes applies (k8s.io/kubernetes pkg/apis/core/v1 and
// pkg/apis/apps/v1 defaults.go). Clients such as kubectl diff and apply
// compare against the defaulted object, so Shoal must fill the same values.
const (
	defaultTerminationGracePeriodSeconds int64 = 30
	defaultTerminationMessagePath              = "/dev/termination-log"
	defaultSchedulerName                       = "default-scheduler"
	defaultRevisionHistoryLimit          int32 = 10
	defaultProgressDeadlineSeconds       int32 = 600
)

// SetDefaults fills in the fields Kubernetes defaults for obj, in place.
// It is idempotent and, but for a Namespace's kubernetes.io/metadata.name
// label, fills only empty fields, so it is safe to run on create and update. Types it does not know are left alone.
// Values that depend on cluster state, such as a Service's clusterIP,
// ipFamilies and ipFamilyPolicy, are the allocator's job, not this one.
func SetDefaults(obj runtime.Object) {
	setRBACDefaults(obj)
	switch o := obj.(type) {
	case *corev1.Namespace:
		setNamespaceDefaults(o)
	case *corev1.Service:
		setServiceDefaults(&o.Spec)
	case *corev1.Pod:
		setPodSpecDefaults(&o.Spec)
	case *corev1.Node:
		// Without a reservation, everything a node has is allocatable.
		if o.Status.Allocatable == nil && o.Status.Capacity != nil {
			o.Status.Allocatable = o.Status.Capacity.DeepCopy()
		}
		// podCIDR is the first of podCIDRs; a client may set either.
		if o.Spec.PodCIDR != "" && len(o.Spec.PodCIDRs) == 0 {
			o.Spec.PodCIDRs = []string{o.Spec.PodCIDR}
		} else if o.Spec.PodCIDR == "" && len(o.Spec.PodCIDRs) > 0 {
			o.Spec.PodCIDR = o.Spec.PodCIDRs[0]
		}
	case *corev1.Endpoints:
		for i := range o.Subsets {
			for j := range o.Subsets[i].Ports {
				if o.Subsets[i].Ports[j].Protocol == "" {
					o.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	case *corev1.Event:
		// Nothing: core/v1 Events have no defaults.
	case *appsv1.Deployment:
		setDeploymentDefaults(o)
	case *appsv1.ReplicaSet:
		if o.Spec.Replicas == nil {
			o.Spec.Replicas = new(int32(1))
		}
		setPodSpecDefaults(&o.Spec.Template.Spec)
	case *discoveryv1.EndpointSlice:
		// Endpoint conditions are deliberately left nil: nil "ready" means
		// "unknown", which consumers treat as ready, and that differs from
		// an explicit false.
		for i := range o.Ports {
			if o.Ports[i].Name == nil {
				o.Ports[i].Name = new("")
			}
			if o.Ports[i].Protocol == nil {
				o.Ports[i].Protocol = new(corev1.ProtocolTCP)
			}
		}
	case *coordinationv1.Lease:
		// Nothing: a Lease is written whole by its holder.
	case *corev1.Secret:
		setSecretDefaults(o)
	case *batchv1.Job:
		setJobDefaults(o)
	case *batchv1.CronJob:
		setCronJobDefaults(o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		setHPADefaults(o)
	}
}

func setNamespaceDefaults(ns *corev1.Namespace) {
	// Kubernetes labels every namespace with its own name so that
	// namespaceSelectors can pick one namespace out.
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
	// The "kubernetes" finalizer holds a deleted namespace until its contents
	// are gone, and the namespace controller removes it when they are. It
	// must not be added back then, or the namespace would never go away:
	// Kubernetes adds it on create only, and since defaulting does not know
	// create from update, only a namespace that is not terminating gets it.
	if len(ns.Spec.Finalizers) == 0 && ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating {
		ns.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
	}
}

func setServiceDefaults(spec *corev1.ServiceSpec) {
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if spec.SessionAffinityConfig == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP == nil {
			spec.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig.ClientIP.TimeoutSeconds = new(corev1.DefaultClientIPServiceAffinitySeconds)
		}
	}
	for i := range spec.Ports {
		sp := &spec.Ports[i]
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		// An unset targetPort decodes as the int 0 or the string "".
		if sp.TargetPort == intstr.FromInt32(0) || sp.TargetPort == intstr.FromString("") {
			sp.TargetPort = intstr.FromInt32(sp.Port)
		}
	}
	if spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer {
		if spec.ExternalTrafficPolicy == "" {
			spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = new(true)
	}
	// An ExternalName service is a CNAME and has no traffic to route.
	if spec.Type != corev1.ServiceTypeExternalName && spec.InternalTrafficPolicy == nil {
		spec.InternalTrafficPolicy = new(corev1.ServiceInternalTrafficPolicyCluster)
	}
}

func setDeploymentDefaults(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = new(int32(1))
	}
	strategy := &d.Spec.Strategy
	if strategy.Type == "" {
		strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if strategy.RollingUpdate == nil {
			strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if strategy.RollingUpdate.MaxUnavailable == nil {
			strategy.RollingUpdate.MaxUnavailable = new(intstr.FromString("25%"))
		}
		if strategy.RollingUpdate.MaxSurge == nil {
			strategy.RollingUpdate.MaxSurge = new(intstr.FromString("25%"))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = new(defaultRevisionHistoryLimit)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = new(defaultProgressDeadlineSeconds)
	}
	setPodSpecDefaults(&d.Spec.Template.Spec)
}

func setPodSpecDefaults(spec *corev1.PodSpec) {
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = new(defaultTerminationGracePeriodSeconds)
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = defaultSchedulerName
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = new(corev1.DefaultEnableServiceLinks)
	}
	syncServiceAccount(spec)
	for i := range spec.Volumes {
		// A volume with no source is an emptyDir.
		if spec.Volumes[i].VolumeSource == (corev1.VolumeSource{}) {
			spec.Volumes[i].EmptyDir = &corev1.EmptyDirVolumeSource{}
		}
	}
	for i := range spec.InitContainers {
		setContainerDefaults(&spec.InitContainers[i], spec.HostNetwork)
	}
	for i := range spec.Containers {
		setContainerDefaults(&spec.Containers[i], spec.HostNetwork)
	}
}

func setContainerDefaults(c *corev1.Container, hostNetwork bool) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = defaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		// On the host network the container port is the host port.
		if hostNetwork && p.HostPort == 0 {
			p.HostPort = p.ContainerPort
		}
	}
	for i := range c.Env {
		if ref := c.Env[i].ValueFrom; ref != nil && ref.FieldRef != nil && ref.FieldRef.APIVersion == "" {
			ref.FieldRef.APIVersion = "v1"
		}
	}
	// A container that states only limits is asking for exactly that much.
	for name, limit := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; ok {
			continue
		}
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		c.Resources.Requests[name] = limit.DeepCopy()
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		setProbeDefaults(p)
	}
	if c.Lifecycle != nil {
		for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil {
				setHTTPGetDefaults(h.HTTPGet)
			}
		}
	}
}

func setProbeDefaults(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	setHTTPGetDefaults(p.HTTPGet)
}

func setHTTPGetDefaults(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// defaultPullPolicy is Always for a floating tag, "latest" or none, because
// the image behind it can change, and IfNotPresent for a pinned tag or
// digest. An empty image, which Shoal allows, has nothing to pull.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if image == "" || strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	// The tag follows the last colon after the last slash; a colon before
	// that slash belongs to a registry host:port.
	name := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(name, ":")
	if i < 0 || name[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}
