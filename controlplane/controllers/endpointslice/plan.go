package endpointslice

import (
	"maps"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoalmesh/shoal/controlplane/controllers/endpoint"
)

// Kubernetes' names and limits for the slices its controller manages.
const (
	sliceManagedBy      = "endpointslice-controller.k8s.io"
	maxEndpointsInSlice = 100
)

// slicePlan is what makes a service's stored slices the wanted ones. An
// update carries the wanted labels, ports, endpoints and owners of an
// existing slice.
type slicePlan struct {
	create, update, remove []*discoveryv1.EndpointSlice
}

func (p slicePlan) empty() bool { return len(p.create)+len(p.update)+len(p.remove) == 0 }

// planSlices compares the slices svc should have, from its selected pods,
// with the existing ones it manages, and returns the fewest writes that
// make them equal, as Kubernetes' endpointslice reconciler does: endpoints
// are grouped by their resolved port set; within a group, slices that still
// hold wanted endpoints are updated in place, emptied ones deleted, and new
// endpoints fill slices already being written before any new slice is made.
// An unchanged service and pod set plans nothing.
func planSlices(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, maxPerSlice int) slicePlan {
	var plan slicePlan
	labels := sliceLabels(svc)

	// What is wanted: endpoints by port set.
	wanted := map[string]*endpointGroup{}
	for _, p := range pods {
		if !endpoint.IncludePod(p, true) {
			continue
		}
		ports := slicePorts(svc, p)
		k := portsKey(ports)
		g := wanted[k]
		if g == nil {
			g = &endpointGroup{ports: ports, eps: map[string]*discoveryv1.Endpoint{}}
			wanted[k] = g
		}
		g.add(sliceEndpoint(p, svc))
	}

	// What is there: the service's own IPv4 slices by port set; any other
	// (an older service of the same name, another address type) goes.
	have := map[string][]*discoveryv1.EndpointSlice{}
	var ipv4, otherType []*discoveryv1.EndpointSlice
	for _, s := range existing {
		if s.DeletionTimestamp != nil {
			continue
		}
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			otherType = append(otherType, s)
			continue
		}
		ipv4 = append(ipv4, s)
		if !sliceOwnedBy(s, svc) {
			plan.remove = append(plan.remove, s)
			continue
		}
		k := portsKey(s.Ports)
		have[k] = append(have[k], s)
	}

	for _, k := range slices.Sorted(maps.Keys(wanted)) {
		planGroup(&plan, svc, labels, have[k], wanted[k], maxPerSlice)
	}
	for _, k := range slices.Sorted(maps.Keys(have)) {
		if wanted[k] == nil {
			plan.remove = append(plan.remove, have[k]...)
		}
	}

	// A service with no endpoints keeps one empty placeholder slice, so
	// that consumers can tell "no endpoints" from "not yet processed".
	if len(ipv4) == len(plan.remove) && len(plan.create) == 0 {
		ph := newSlice(svc, labels, []discoveryv1.EndpointPort{})
		if len(plan.remove) == 1 && isPlaceholder(plan.remove[0], ph) {
			plan.remove = nil
		} else {
			plan.create = append(plan.create, ph)
		}
	}

	// A slice that would be deleted while another is created is rewritten
	// instead: one write, not two.
	for i := 0; i < len(plan.remove) && len(plan.create) > 0; {
		old := plan.remove[i]
		if !sliceOwnedBy(old, svc) {
			i++
			continue
		}
		s := plan.create[len(plan.create)-1]
		plan.create = plan.create[:len(plan.create)-1]
		s.Name, s.GenerateName = old.Name, ""
		plan.update = append(plan.update, s)
		plan.remove = append(plan.remove[:i], plan.remove[i+1:]...)
	}
	plan.remove = append(plan.remove, otherType...)
	return plan
}

// planGroup plans the slices of one port set.
func planGroup(plan *slicePlan, svc *corev1.Service, labels map[string]string, existing []*discoveryv1.EndpointSlice, g *endpointGroup, maxPerSlice int) {
	var updated, unchanged []*discoveryv1.EndpointSlice
	for _, s := range existing {
		keep := make([]discoveryv1.Endpoint, 0, len(s.Endpoints))
		changed := false
		for i := range s.Endpoints {
			have := &s.Endpoints[i]
			k := endpointKey(have)
			want, ok := g.eps[k]
			if !ok {
				continue // not wanted, or already placed in another slice
			}
			keep = append(keep, *want)
			if !endpointEqual(want, have) {
				changed = true
			}
			delete(g.eps, k)
		}
		switch {
		case changed || len(keep) != len(s.Endpoints):
			if len(keep) == 0 {
				plan.remove = append(plan.remove, s)
				continue
			}
			u := s.DeepCopy()
			u.Endpoints, u.Labels = keep, labels
			updated = append(updated, u)
		case !maps.Equal(s.Labels, labels):
			u := s.DeepCopy()
			u.Labels = labels
			updated = append(updated, u)
		default:
			unchanged = append(unchanged, s)
		}
	}
	rest := g.remaining()

	// Fill the slices being written anyway, fullest first.
	sort.SliceStable(updated, func(i, j int) bool { return len(updated[i].Endpoints) > len(updated[j].Endpoints) })
	for _, s := range updated {
		for len(rest) > 0 && len(s.Endpoints) < maxPerSlice {
			s.Endpoints = append(s.Endpoints, *rest[0])
			rest = rest[1:]
		}
	}
	// Then the unchanged slice that the rest fits best, then new slices.
	for len(rest) > 0 {
		var s *discoveryv1.EndpointSlice
		if len(rest) < maxPerSlice {
			if best := sliceToFill(unchanged, len(rest), maxPerSlice); best != nil {
				unchanged = deleteSlice(unchanged, best)
				s = best.DeepCopy()
				updated = append(updated, s)
			}
		}
		if s == nil {
			s = newSlice(svc, labels, copyPorts(g.ports))
			plan.create = append(plan.create, s)
		}
		for len(rest) > 0 && len(s.Endpoints) < maxPerSlice {
			s.Endpoints = append(s.Endpoints, *rest[0])
			rest = rest[1:]
		}
	}
	plan.update = append(plan.update, updated...)
}

// sliceToFill is the slice that n more endpoints bring closest to full.
func sliceToFill(ss []*discoveryv1.EndpointSlice, n, maxPerSlice int) *discoveryv1.EndpointSlice {
	var best *discoveryv1.EndpointSlice
	closest := maxPerSlice
	for _, s := range ss {
		if d := maxPerSlice - (n + len(s.Endpoints)); d >= 0 && d < closest {
			best, closest = s, d
		}
	}
	return best
}

func deleteSlice(ss []*discoveryv1.EndpointSlice, s *discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
	out := ss[:0:0]
	for _, x := range ss {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// endpointGroup is the wanted endpoints of one port set, by identity.
type endpointGroup struct {
	ports []discoveryv1.EndpointPort
	eps   map[string]*discoveryv1.Endpoint
}

func (g *endpointGroup) add(ep discoveryv1.Endpoint) { g.eps[endpointKey(&ep)] = &ep }

// remaining is what no existing slice holds, in a stable order.
func (g *endpointGroup) remaining() []*discoveryv1.Endpoint {
	out := make([]*discoveryv1.Endpoint, 0, len(g.eps))
	for _, k := range slices.Sorted(maps.Keys(g.eps)) {
		out = append(out, g.eps[k])
	}
	return out
}
