package translate

import (
	"strconv"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
)

// Routes returns one RouteConfiguration per TCP port of svc, in port order,
// for Envoy sidecars over RDS. Listeners embed the same configuration inline.
func Routes(svc *corev1.Service, domain string) []*routev3.RouteConfiguration {
	if !translatable(svc) {
		return nil
	}
	var out []*routev3.RouteConfiguration
	for _, p := range svc.Spec.Ports {
		if tcpPort(p) {
			out = append(out, routeConfig(svc, p, domain))
		}
	}
	return out
}

func routeConfig(svc *corev1.Service, p corev1.ServicePort, domain string) *routev3.RouteConfiguration {
	name := portName(svc, p, domain)
	host := Host(svc.Name, svc.Namespace, domain)
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name: name,
			// grpc-go matches the target's host:port; a miss is not a NACK
			// but RPCs failing with "could not find VirtualHost". "*" keeps
			// short names (svc.ns) working for Envoy.
			Domains: []string{host + ":" + strconv.Itoa(int(p.Port)), host, "*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: name},
					// Envoy's default 15 s route timeout would cut every
					// long-lived gRPC stream; deadlines belong to the caller.
					Timeout: durationpb.New(0),
				}},
			}},
		}},
	}
}
