package translate

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	corev1 "k8s.io/api/core/v1"
)

// RouterFilterName is the well-known name of Envoy's router HTTP filter.
const RouterFilterName = "envoy.filters.http.router"

// Listeners returns one Listener per TCP port of svc, in port order, for
// proxyless gRPC clients dialling xds:///<name>. Each carries an ApiListener
// with an inline route configuration, since go-control-plane's snapshot
// consistency check does not follow RDS names inside an ApiListener.
func Listeners(svc *corev1.Service, domain string) []*listenerv3.Listener {
	if !translatable(svc) {
		return nil
	}
	var out []*listenerv3.Listener
	for _, p := range svc.Spec.Ports {
		if tcpPort(p) {
			out = append(out, listener(svc, p, domain))
		}
	}
	return out
}

func listener(svc *corev1.Service, p corev1.ServicePort, domain string) *listenerv3.Listener {
	name := portName(svc, p, domain)
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: routeConfig(svc, p, domain)},
		// grpc-go requires a non-empty filter chain that ends in the router
		// with its typed_config.
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       RouterFilterName,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typed(&routerv3.Router{})},
		}},
	}
	return &listenerv3.Listener{
		Name:        name,
		ApiListener: &listenerv3.ApiListener{ApiListener: typed(hcm)},
	}
}
