package translate

import (
	"cmp"
	"math"
	"net/netip"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// DefaultRegion is the locality region of every endpoint; zones come from
// the EndpointSlice.
const DefaultRegion = "shoal"

// Envoy and grpc-go reject an assignment whose locality weights sum past
// 2^32-1; capping a weight at 2^16 keeps 65535 endpoints valid.
const MaxWeight = 1 << 16

// NeutralWeight is the weight of an endpoint the load weights say nothing
// about. It is well above 1 so that weights below neutral (busy endpoints)
// keep a useful resolution.
const NeutralWeight = 100

// Endpoints returns one ClusterLoadAssignment per TCP port of s.Service and,
// if it has a cluster IP, per UDP port, in port order, each named like its
// Cluster. A port without usable endpoints
// still gets an (empty) assignment so clients see "no endpoints" rather than
// waiting for a resource that never comes. Only this function reads slices
// and weights, so an endpoint change changes only these resources.
func Endpoints(s Service, v *View) []*endpointv3.ClusterLoadAssignment {
	svc := s.Service
	if !translatable(svc) {
		return nil
	}
	_, hasVIP := clusterIP(svc)
	var out []*endpointv3.ClusterLoadAssignment
	for _, p := range svc.Spec.Ports {
		switch {
		case tcpPort(p):
			out = append(out, loadAssignment(portName(svc, p, v.domain()), p, s.Slices, v))
		case udpPort(p) && hasVIP:
			out = append(out, loadAssignment(udpPortName(svc, p, v.domain()), p, s.Slices, v))
		}
	}
	return out
}

// endpoint is one address:port with its status, before grouping.
type endpoint struct {
	addr   netip.Addr
	ip     string
	port   uint32
	proto  corev3.SocketAddress_Protocol
	zone   string
	status corev3.HealthStatus
}

// loadAssignment gives every endpoint its own locality (sub_zone = its IP)
// weighted by its load weight. grpc-go and grpc-js honour locality weights
// (under wrr_locality) but not endpoint weights, and grpc-go's load reports
// are per locality, so this is what lets proxyless clients follow the
// cluster-wide weights and lets the control plane attribute their reports
// to an endpoint. Envoy reads the same weight on the endpoint.
func loadAssignment(name string, sp corev1.ServicePort, sls []*discoveryv1.EndpointSlice, v *View) *endpointv3.ClusterLoadAssignment {
	eps := collect(sp, sls)
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	for _, e := range eps {
		// Never 0: grpc-go silently drops a locality without a weight.
		w := v.weight(e.ip)
		cla.Endpoints = append(cla.Endpoints, &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{Region: DefaultRegion, Zone: e.zone, SubZone: e.ip},
			LbEndpoints:         []*endpointv3.LbEndpoint{lbEndpoint(e, w)},
			LoadBalancingWeight: wrapperspb.UInt32(w),
		})
	}
	return cla
}

func lbEndpoint(e endpoint, w uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Protocol:      e.proto,
				Address:       e.ip,
				PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: e.port},
			}}},
		}},
		HealthStatus:        e.status,
		LoadBalancingWeight: wrapperspb.UInt32(w),
	}
}

// collect gathers the usable endpoints of one Service port from all slices,
// sorted by zone, IP and port, with duplicates (an endpoint moving between
// slices) merged to the healthiest status.
func collect(sp corev1.ServicePort, sls []*discoveryv1.EndpointSlice) []endpoint {
	seen := map[endpointKey]int{}
	var out []endpoint
	for _, sl := range sls {
		if sl == nil || sl.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port, ok := slicePort(sl, sp)
		if !ok {
			continue
		}
		for _, ep := range sl.Endpoints {
			status, ok := health(ep.Conditions)
			if !ok || len(ep.Addresses) == 0 {
				continue
			}
			// Only the first address has defined semantics (k8s API docs).
			// Envoy NACKs a whole assignment over one address that is not
			// an IP, so such endpoints are left out.
			addr, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil {
				continue
			}
			e := endpoint{addr: addr, ip: addr.String(), port: port, proto: protocolOf(sp), zone: deref(ep.Zone), status: status}
			k := endpointKey{e.ip, e.port}
			if i, dup := seen[k]; dup {
				if out[i].status != corev3.HealthStatus_HEALTHY && e.status == corev3.HealthStatus_HEALTHY {
					out[i] = e
				}
				continue
			}
			seen[k] = len(out)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		return cmp.Or(cmp.Compare(a.zone, b.zone), a.addr.Compare(b.addr), cmp.Compare(a.port, b.port))
	})
	return out
}

type endpointKey struct {
	ip   string
	port uint32
}

// slicePort finds the slice port that carries sp: same name (the slice holds
// the resolved target port number) and same protocol (unset means TCP).
func slicePort(sl *discoveryv1.EndpointSlice, sp corev1.ServicePort) (uint32, bool) {
	want := cmp.Or(sp.Protocol, corev1.ProtocolTCP)
	for _, p := range sl.Ports {
		if deref(p.Name) != sp.Name || p.Port == nil || *p.Port <= 0 || *p.Port > math.MaxUint16 {
			continue
		}
		if cmp.Or(deref(p.Protocol), corev1.ProtocolTCP) != want {
			continue
		}
		return uint32(*p.Port), true
	}
	return 0, false
}

// health maps EndpointSlice conditions to an EDS status. Terminating wins
// over ready so a hand-written slice claiming both drains rather than takes
// new traffic. Unset ready means ready and unset serving means ready, as the
// EndpointSlice API defines.
func health(c discoveryv1.EndpointConditions) (corev3.HealthStatus, bool) {
	ready := c.Ready == nil || *c.Ready
	serving := ready
	if c.Serving != nil {
		serving = *c.Serving
	}
	switch {
	case c.Terminating != nil && *c.Terminating:
		return corev3.HealthStatus_DRAINING, serving
	case ready:
		return corev3.HealthStatus_HEALTHY, true
	default:
		return corev3.HealthStatus_UNKNOWN, false
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
