package translate

import (
	"cmp"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Resources is the translation of a View, each kind sorted by name.
type Resources struct {
	// Listeners are ApiListeners for proxyless gRPC clients.
	Listeners []*listenerv3.Listener
	// Outbound are socket Listeners on cluster IPs for Envoy sidecars and
	// Shoal's node proxy.
	Outbound  []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
}

// Translate turns every Service in v into xDS resources. Services with the
// same namespace and name as an earlier one are ignored.
func Translate(v *View) *Resources {
	res := &Resources{}
	if v == nil {
		return res
	}
	svcs := slices.Clone(v.Services)
	svcs = slices.DeleteFunc(svcs, func(s Service) bool { return s.Service == nil })
	slices.SortStableFunc(svcs, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Service.Namespace, b.Service.Namespace), cmp.Compare(a.Service.Name, b.Service.Name))
	})
	svcs = slices.CompactFunc(svcs, func(a, b Service) bool {
		return a.Service.Namespace == b.Service.Namespace && a.Service.Name == b.Service.Name
	})
	d := v.domain()
	for _, s := range svcs {
		res.Listeners = append(res.Listeners, Listeners(s.Service, d)...)
		res.Outbound = append(res.Outbound, OutboundListeners(s.Service, d)...)
		res.Routes = append(res.Routes, Routes(s.Service, d)...)
		res.Clusters = append(res.Clusters, Clusters(s.Service, d)...)
		res.Endpoints = append(res.Endpoints, Endpoints(s, v)...)
	}
	slices.SortFunc(res.Listeners, func(a, b *listenerv3.Listener) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(res.Outbound, func(a, b *listenerv3.Listener) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(res.Routes, func(a, b *routev3.RouteConfiguration) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(res.Clusters, func(a, b *clusterv3.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(res.Endpoints, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return cmp.Compare(a.ClusterName, b.ClusterName)
	})
	return res
}
