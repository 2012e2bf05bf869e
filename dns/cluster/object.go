package cluster

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// The plugin keeps of each object only what its answers need, as CoreDNS's
// kubernetes plugin keeps its object.Service and object.Endpoints: a
// Service's addresses and ports, an EndpointSlice's ready addresses with
// their names, a Namespace's name, a running Pod's addresses. In `shoal dns`
// its caches keep these (trim is their store.Transform); in `shoal up`,
// whose caches the API server shares, the builder trims each event.
//
// These objects are immutable once made: a copy (DeepCopyObject) shares
// their slices.

// serviceKind is how a service answers.
type serviceKind uint8

const (
	kindNoIP      serviceKind = iota // no cluster IP allocated: no names
	kindClusterIP                    // its cluster IPs
	kindHeadless                     // its ready endpoints
	kindExternal                     // a CNAME to spec.externalName
)

// service is what the plugin keeps of a Service.
type service struct {
	meta
	kind serviceKind
	// ips are the cluster IPs that parse (unmapped, without repeats), in
	// spec order; a headless or ExternalName service may have some too.
	ips []netip.Addr
	// external is an ExternalName service's target, fully qualified; ""
	// when it is empty or an address (CoreDNS answers only names).
	external string
	ports    []port // the spec's ports; {number: -1} when there are none
}

// port is a service or endpoint port; number -1 stands for "no ports", as
// in CoreDNS (A records, but no SRV).
type port struct {
	name, proto string // lower case
	number      int32
}

// slice is what the plugin keeps of an EndpointSlice.
type slice struct {
	meta
	service string     // ns/name of the service it belongs to ("" if unlabelled)
	eps     []endpoint // the ready addresses, in order (none for an FQDN slice)
	ports   []port     // {number: -1} when there are none
}

// endpoint is one ready address of a slice.
type endpoint struct {
	ip netip.Addr
	// host is its name under the service (lower case): the endpoint's
	// hostname, else (endpoint_pod_names) its pod's name, else the address
	// with dashes.
	host string
}

// namespace is what the plugin keeps of a Namespace: that it exists.
type namespace struct{ meta }

// pod is what the plugin keeps of a Pod: its addresses, while it runs (as
// CoreDNS's pod informer lists it: not finished, not terminating).
type pod struct {
	meta
	ips []netip.Addr
}

func (s *service) DeepCopyObject() runtime.Object   { c := *s; return &c }
func (s *slice) DeepCopyObject() runtime.Object     { c := *s; return &c }
func (n *namespace) DeepCopyObject() runtime.Object { c := *n; return &c }
func (p *pod) DeepCopyObject() runtime.Object       { c := *p; return &c }

var (
	_ store.Object = (*service)(nil)
	_ store.Object = (*slice)(nil)
	_ store.Object = (*namespace)(nil)
	_ store.Object = (*pod)(nil)
)

// trimmer is the store.Transform of a plugin configured by cfg.
func trimmer(cfg Config) store.Transform {
	return func(o store.Object) store.Object { return trim(cfg, o) }
}

// trim returns what the plugin keeps of o; an object it keeps already, or
// one it does not read, is returned as is.
func trim(cfg Config, o store.Object) store.Object {
	switch o := o.(type) {
	case *corev1.Service:
		return trimService(o)
	case *discoveryv1.EndpointSlice:
		return trimSlice(cfg, o)
	case *corev1.Namespace:
		return &namespace{metaOf(o)}
	case *corev1.Pod:
		return trimPod(o)
	}
	return o
}

func trimService(svc *corev1.Service) *service {
	s := &service{meta: metaOf(svc), ports: servicePorts(svc)}
	cips := svc.Spec.ClusterIPs
	if len(cips) == 0 {
		cips = []string{svc.Spec.ClusterIP}
	}
	for _, c := range cips {
		if ip, err := netip.ParseAddr(c); err == nil && !slices.Contains(s.ips, ip.Unmap()) {
			s.ips = append(s.ips, ip.Unmap())
		}
	}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		s.kind = kindExternal
		// CoreDNS answers an ExternalName only when it is a name, not an IP.
		if ext := svc.Spec.ExternalName; ext != "" && net.ParseIP(ext) == nil {
			s.external = dns.Fqdn(ext)
		}
	case cips[0] == corev1.ClusterIPNone:
		s.kind = kindHeadless
	case cips[0] != "":
		s.kind = kindClusterIP
	}
	return s
}

func servicePorts(svc *corev1.Service) []port {
	if len(svc.Spec.Ports) == 0 {
		return noPorts
	}
	out := make([]port, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		out[i] = port{name: strings.ToLower(p.Name), proto: strings.ToLower(string(p.Protocol)), number: p.Port}
	}
	return out
}

// noPorts is the port list of an object without ports, shared.
var noPorts = []port{{number: -1}}

// trimSlice keeps a slice's ready addresses. A slice marks an address
// ready itself (also when the service publishes not-ready addresses).
func trimSlice(cfg Config, s *discoveryv1.EndpointSlice) *slice {
	out := &slice{meta: metaOf(s), ports: slicePorts(s)}
	if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
		out.service = s.Namespace + "/" + name
	}
	if s.AddressType == discoveryv1.AddressTypeFQDN {
		return out
	}
	for _, e := range s.Endpoints {
		if e.Conditions.Ready != nil && !*e.Conditions.Ready {
			continue
		}
		for _, a := range e.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				continue
			}
			out.eps = append(out.eps, endpoint{ip: ip.Unmap(), host: strings.ToLower(hostname(cfg, e, a))})
		}
	}
	return out
}

func slicePorts(s *discoveryv1.EndpointSlice) []port {
	if len(s.Ports) == 0 {
		return noPorts
	}
	out := make([]port, len(s.Ports))
	for i, p := range s.Ports {
		out[i] = port{number: -1}
		if p.Port != nil {
			out[i].number = *p.Port
		}
		if p.Name != nil {
			out[i].name = strings.ToLower(*p.Name)
		}
		if p.Protocol != nil {
			out[i].proto = strings.ToLower(string(*p.Protocol))
		}
	}
	return out
}

// hostname is an endpoint's name under its service: its hostname, else
// (endpoint_pod_names) its pod's name, else its address with dashes.
func hostname(cfg Config, e discoveryv1.Endpoint, addr string) string {
	if e.Hostname != nil && *e.Hostname != "" {
		return *e.Hostname
	}
	if cfg.EndpointPodNames && e.TargetRef != nil && e.TargetRef.Name != "" && len(e.TargetRef.Name) < 64 {
		return e.TargetRef.Name
	}
	if strings.Contains(addr, ".") {
		return strings.ReplaceAll(addr, ".", "-")
	}
	h := strings.ReplaceAll(addr, ":", "-")
	if strings.HasSuffix(h, "-") {
		h += "0"
	}
	return h
}

// trimPod keeps the addresses of a pod that CoreDNS's pod informer would
// list: not finished, not terminating.
func trimPod(p *corev1.Pod) *pod {
	out := &pod{meta: metaOf(p)}
	if p.DeletionTimestamp != nil {
		return out
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown:
		return out
	}
	ips := p.Status.PodIPs
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: p.Status.PodIP}}
	}
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s.IP); err == nil {
			out.ips = append(out.ips, ip.Unmap())
		}
	}
	return out
}
