package endpoint

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// How a pod becomes an endpoint of a service, as Kubernetes' endpointslice
// and endpoints controllers decide it (k8s.io/endpointslice utils.go and
// util/controller_utils.go).

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodIPv4 is the pod's IPv4 address, or "" if it has none yet.
func PodIPv4(p *corev1.Pod) string {
	ips := p.Status.PodIPs
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: p.Status.PodIP}}
	}
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip.IP); err == nil && a.Is4() {
			return ip.IP
		}
	}
	return ""
}

// IncludePod reports whether a selected pod is an endpoint at all: it
// has an address and is not finished. Terminating pods are endpoints of
// slices (marked terminating) but, unless the service publishes not-ready
// addresses, not of core/v1 Endpoints.
func IncludePod(p *corev1.Pod, includeTerminating bool) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if PodIPv4(p) == "" {
		return false
	}
	return includeTerminating || p.DeletionTimestamp == nil
}

// Hostname is the pod's hostname if the service publishes it: a pod
// with spec.hostname whose spec.subdomain names the service.
func Hostname(p *corev1.Pod, svc *corev1.Service) string {
	if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name && p.Namespace == svc.Namespace {
		return p.Spec.Hostname
	}
	return ""
}

// FindPort resolves a service port's targetPort on pod: a number as it
// is, a name through the ports of the pod's containers (and sidecar init
// containers) with the same name and protocol.
func FindPort(p *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	switch sp.TargetPort.Type {
	case intstr.Int:
		return sp.TargetPort.IntVal, true
	case intstr.String:
		name := sp.TargetPort.StrVal
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				if port.Name == name && port.Protocol == sp.Protocol {
					return port.ContainerPort, true
				}
			}
		}
		for _, c := range p.Spec.InitContainers {
			if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				continue
			}
			for _, port := range c.Ports {
				if port.Name == name && port.Protocol == sp.Protocol {
					return port.ContainerPort, true
				}
			}
		}
	}
	return 0, false
}

// podEndpointChanged reports whether anything an endpoint shows of a pod
// changed, other than its labels.
func podEndpointChanged(old, cur *corev1.Pod) bool {
	if (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		PodReady(old) != PodReady(cur) ||
		PodIPv4(old) != PodIPv4(cur) ||
		old.Status.Phase != cur.Status.Phase ||
		old.Spec.NodeName != cur.Spec.NodeName ||
		old.Spec.Hostname != cur.Spec.Hostname ||
		old.Spec.Subdomain != cur.Spec.Subdomain ||
		old.UID != cur.UID {
		return true
	}
	return false
}
