package controllers

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// How a pod becomes an endpoint of a service, as Kubernetes' endpointslice
// and endpoints controllers decide it (k8s.io/endpointslice utils.go and
// util/controller_utils.go).

// epPodReady reports whether the pod's Ready condition is True.
func epPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// epPodIPv4 is the pod's IPv4 address, or "" if it has none yet.
func epPodIPv4(p *corev1.Pod) string {
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

// epIncludePod reports whether a selected pod is an endpoint at all: it
// has an address and is not finished. Terminating pods are endpoints of
// slices (marked terminating) but, unless the service publishes not-ready
// addresses, not of core/v1 Endpoints.
func epIncludePod(p *corev1.Pod, includeTerminating bool) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if epPodIPv4(p) == "" {
		return false
	}
	return includeTerminating || p.DeletionTimestamp == nil
}

// epHostname is the pod's hostname if the service publishes it: a pod
// with spec.hostname whose spec.subdomain names the service.
func epHostname(p *corev1.Pod, svc *corev1.Service) string {
	if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name && p.Namespace == svc.Namespace {
		return p.Spec.Hostname
	}
	return ""
}

// epFindPort resolves a service port's targetPort on pod: a number as it
// is, a name through the ports of the pod's containers (and sidecar init
// containers) with the same name and protocol.
func epFindPort(p *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
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

// slicePorts are the service's ports as resolved on pod; a port the pod
// does not have is left out, so such a pod lands in a slice of its own
// port set.
func slicePorts(svc *corev1.Service, p *corev1.Pod) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, ok := epFindPort(p, sp)
		if !ok {
			continue
		}
		out = append(out, discoveryv1.EndpointPort{
			Name: new(sp.Name), Port: new(num), Protocol: new(sp.Protocol), AppProtocol: sp.AppProtocol,
		})
	}
	return out
}

// sliceEndpoint is the slice endpoint of a pod for svc.
func sliceEndpoint(p *corev1.Pod, svc *corev1.Service) discoveryv1.Endpoint {
	serving := epPodReady(p)
	terminating := p.DeletionTimestamp != nil
	// A terminating pod is never ready, unless the service asks for every
	// address to be published.
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{epPodIPv4(p)},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
	}
	if p.Spec.NodeName != "" {
		ep.NodeName = new(p.Spec.NodeName)
	}
	if h := epHostname(p, svc); h != "" {
		ep.Hostname = new(h)
	}
	return ep
}

// podEndpointChanged reports whether anything an endpoint shows of a pod
// changed, other than its labels.
func podEndpointChanged(old, cur *corev1.Pod) bool {
	if (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		epPodReady(old) != epPodReady(cur) ||
		epPodIPv4(old) != epPodIPv4(cur) ||
		old.Status.Phase != cur.Status.Phase ||
		old.Spec.NodeName != cur.Spec.NodeName ||
		old.Spec.Hostname != cur.Spec.Hostname ||
		old.Spec.Subdomain != cur.Spec.Subdomain ||
		old.UID != cur.UID {
		return true
	}
	return false
}
