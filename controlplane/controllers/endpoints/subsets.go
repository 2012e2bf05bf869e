package endpoints

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/conversion"

	"github.com/shoalmesh/shoal/controlplane/controllers/endpoint"
)

// maxEndpointsAddresses is how many addresses Kubernetes' endpoints
// controller writes into one Endpoints object before it truncates.
const maxEndpointsAddresses = 1000

// endpointsSubsets are the subsets of svc's core/v1 Endpoints from its
// selected pods, as Kubernetes' endpoints controller builds them: one
// address per pod and port, ready or not, then repacked so that ports
// offered by the same addresses share a subset.
func endpointsSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	var raw []corev1.EndpointSubset
	for _, p := range pods {
		if !endpoint.IncludePod(p, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        endpoint.PodIPv4(p),
			Hostname:  endpoint.Hostname(p, svc),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		}
		if p.Spec.NodeName != "" {
			addr.NodeName = new(p.Spec.NodeName)
		}
		ready := svc.Spec.PublishNotReadyAddresses || endpoint.PodReady(p)
		add := func(ports []corev1.EndpointPort) {
			ss := corev1.EndpointSubset{Ports: ports}
			if ready {
				ss.Addresses = []corev1.EndpointAddress{addr}
			} else {
				ss.NotReadyAddresses = []corev1.EndpointAddress{addr}
			}
			raw = append(raw, ss)
		}
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(nil) // a headless service may have no ports
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			if num, ok := endpoint.FindPort(p, sp); ok {
				add([]corev1.EndpointPort{{Name: sp.Name, Port: num, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
			}
		}
	}
	return repackSubsets(raw)
}

// repackSubsets is the canonical form of subsets (Kubernetes'
// RepackSubsets): each port with the set of addresses offering it, ports
// with the same address set in one subset, everything sorted. Two
// Endpoints mean the same thing exactly when their repacked subsets are
// equal.
func repackSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	type member struct {
		addr  *corev1.EndpointAddress
		ready bool
	}
	const noPorts = "\x00"
	byPort := map[string]map[string]member{} // port key → address key → member
	portOf := map[string]*corev1.EndpointPort{}
	add := func(pk string, port *corev1.EndpointPort, ss *corev1.EndpointSubset) {
		m := byPort[pk]
		if m == nil {
			m = map[string]member{}
			byPort[pk], portOf[pk] = m, port
		}
		for i := range ss.Addresses {
			a := &ss.Addresses[i]
			m[addressKey(a)] = member{a, true}
		}
		for i := range ss.NotReadyAddresses {
			a := &ss.NotReadyAddresses[i]
			if _, ok := m[addressKey(a)]; !ok { // ready wins
				m[addressKey(a)] = member{a, false}
			}
		}
	}
	for i := range subsets {
		ss := &subsets[i]
		if len(ss.Ports) == 0 {
			add(noPorts, nil, ss)
			continue
		}
		for j := range ss.Ports {
			add(endpointPortKey(&ss.Ports[j]), &ss.Ports[j], ss)
		}
	}

	type group struct {
		members map[string]member
		ports   []corev1.EndpointPort
	}
	groups := map[string]*group{} // address set signature → group
	for _, pk := range slices.Sorted(maps.Keys(byPort)) {
		m := byPort[pk]
		if len(m) == 0 {
			continue
		}
		var sig strings.Builder
		for _, ak := range slices.Sorted(maps.Keys(m)) {
			sig.WriteString(ak + "=" + strconv.FormatBool(m[ak].ready) + ";")
		}
		g := groups[sig.String()]
		if g == nil {
			g = &group{members: m}
			groups[sig.String()] = g
		}
		if p := portOf[pk]; p != nil {
			g.ports = append(g.ports, *p)
		}
	}
	out := make([]corev1.EndpointSubset, 0, len(groups))
	for _, sig := range slices.Sorted(maps.Keys(groups)) { // sorted signatures: a stable subset order
		g := groups[sig]
		var ss corev1.EndpointSubset
		for _, ak := range slices.Sorted(maps.Keys(g.members)) {
			if m := g.members[ak]; m.ready {
				ss.Addresses = append(ss.Addresses, *m.addr)
			} else {
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, *m.addr)
			}
		}
		ss.Ports = g.ports
		out = append(out, ss)
	}
	return out
}

// addressKey identifies an address as Kubernetes does: its IP and pod UID.
// The IP is zero-padded so keys sort as the addresses do.
func addressKey(a *corev1.EndpointAddress) string {
	k := a.IP
	if parts := strings.Split(a.IP, "."); len(parts) == 4 {
		for i, p := range parts {
			parts[i] = strings.Repeat("0", max(0, 3-len(p))) + p
		}
		k = strings.Join(parts, ".")
	}
	if a.TargetRef != nil {
		k += "/" + string(a.TargetRef.UID)
	}
	return k
}

func endpointPortKey(p *corev1.EndpointPort) string {
	app := ""
	if p.AppProtocol != nil {
		app = *p.AppProtocol
	}
	return p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port)) + "/" + app
}

// truncateSubsets caps subsets at maxEndpointsAddresses addresses, ready
// ones first, in proportion to each subset's share, as Kubernetes does. It
// reports whether it dropped any.
func truncateSubsets(subsets []corev1.EndpointSubset) bool {
	ready, notReady := 0, 0
	for _, ss := range subsets {
		ready += len(ss.Addresses)
		notReady += len(ss.NotReadyAddresses)
	}
	if ready+notReady <= maxEndpointsAddresses {
		return false
	}
	truncateReady := ready > maxEndpointsAddresses
	limit, total := maxEndpointsAddresses-ready, notReady
	if truncateReady {
		limit, total = maxEndpointsAddresses, ready
	}
	left := limit
	for i := range subsets {
		ss := &subsets[i]
		n := len(ss.NotReadyAddresses)
		if truncateReady {
			n = len(ss.Addresses)
		}
		take := min(int(math.Ceil(float64(n)/float64(total)*float64(limit))), left)
		if truncateReady {
			ss.Addresses = ss.Addresses[:min(take, len(ss.Addresses))]
			ss.NotReadyAddresses = nil
			left -= len(ss.Addresses)
		} else {
			ss.NotReadyAddresses = ss.NotReadyAddresses[:min(take, len(ss.NotReadyAddresses))]
			left -= len(ss.NotReadyAddresses)
		}
	}
	return true
}

// endpointsLabels are the labels of svc's Endpoints: the service's, with
// the headless marker for a headless service.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := maps.Clone(svc.Labels)
	if out == nil {
		out = map[string]string{}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		out[corev1.IsHeadlessService] = ""
	} else {
		delete(out, corev1.IsHeadlessService)
	}
	return out
}

// subsetsEqual compares subsets semantically, ignoring the resourceVersion
// of target references, which changes with every pod write.
func subsetsEqual(a, b []corev1.EndpointSubset) bool {
	return ignoreRefVersion.DeepEqual(a, b)
}

var ignoreRefVersion = conversion.EqualitiesOrDie(
	func(a, b corev1.ObjectReference) bool {
		a.ResourceVersion, b.ResourceVersion = "", ""
		return a == b
	},
)
