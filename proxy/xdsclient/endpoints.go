package xdsclient

import (
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// parseEndpoints decodes and validates an EDS response (only the
// assignments that changed), keyed by cluster_name.
func parseEndpoints(res []*anypb.Any) (map[string][]Endpoint, error) {
	out := make(map[string][]Endpoint, len(res))
	for _, a := range res {
		m, err := unpack(EDS, a, func() *endpointv3.ClusterLoadAssignment { return &endpointv3.ClusterLoadAssignment{} })
		if err != nil {
			return nil, err
		}
		name := m.GetClusterName()
		eps, err := parseAssignment(m)
		if err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, resErr(EDS, name, ErrDuplicate)
		}
		out[name] = eps
	}
	return out, nil
}

func parseAssignment(m *endpointv3.ClusterLoadAssignment) ([]Endpoint, error) {
	name := m.GetClusterName()
	if err := checkProto(EDS, name, m); err != nil {
		return nil, err
	}
	var out []Endpoint
	for _, loc := range m.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			ip, err := netip.ParseAddr(sa.GetAddress())
			if err != nil {
				return nil, resErr(EDS, name, fmt.Errorf("%w: endpoint address %q: %w", ErrMalformed, sa.GetAddress(), err))
			}
			port := sa.GetPortValue()
			if port == 0 || port > 65535 {
				return nil, resErr(EDS, name, fmt.Errorf("%w: endpoint %s port %d", ErrMalformed, ip, port))
			}
			w := lb.GetLoadBalancingWeight().GetValue()
			if w == 0 {
				w = loc.GetLoadBalancingWeight().GetValue()
			}
			if w == 0 {
				w = 1
			}
			out = append(out, Endpoint{
				Addr:    netip.AddrPortFrom(ip.Unmap(), uint16(port)),
				Weight:  w,
				Health:  health(lb.GetHealthStatus()),
				Region:  loc.GetLocality().GetRegion(),
				Zone:    loc.GetLocality().GetZone(),
				SubZone: loc.GetLocality().GetSubZone(),
			})
		}
	}
	return out, nil
}

func health(h corev3.HealthStatus) Health {
	switch h {
	case corev3.HealthStatus_HEALTHY:
		return Healthy
	case corev3.HealthStatus_UNHEALTHY:
		return Unhealthy
	case corev3.HealthStatus_DRAINING:
		return Draining
	case corev3.HealthStatus_TIMEOUT:
		return Timeout
	case corev3.HealthStatus_DEGRADED:
		return Degraded
	}
	return HealthUnknown
}
