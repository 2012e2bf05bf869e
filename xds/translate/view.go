package translate

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// View is the part of the registry that translation reads.
type View struct {
	// Domain is the cluster DNS domain; empty means DefaultDomain.
	Domain string
	// Services to translate, in any order.
	Services []Service
	// Weights maps an endpoint IP to its load-balancing weight. Endpoints not
	// in the map, or mapped to 0, get NeutralWeight; weights above MaxWeight
	// are capped.
	Weights map[string]uint32
}

// Service is one Service with the EndpointSlices that belong to it.
type Service struct {
	Service *corev1.Service
	Slices  []*discoveryv1.EndpointSlice
}

func (v *View) domain() string {
	if v == nil || v.Domain == "" {
		return DefaultDomain
	}
	return v.Domain
}

func (v *View) weight(ip string) uint32 {
	if v == nil {
		return NeutralWeight
	}
	if w := v.Weights[ip]; w > 0 {
		return min(w, MaxWeight)
	}
	return NeutralWeight
}

// translatable reports whether svc gets xDS resources: it must have a
// cluster IP or be headless, so ExternalName Services are skipped.
func translatable(svc *corev1.Service) bool {
	return svc != nil && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// tcpPort reports whether a Service port carries TCP; TCP ports get every
// kind of resource. UDP ports (see udpPort) get fewer; SCTP ones none.
func tcpPort(p corev1.ServicePort) bool {
	return p.Protocol == "" || p.Protocol == corev1.ProtocolTCP
}
