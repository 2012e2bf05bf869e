// Package translate turns a registry view (Services and their EndpointSlices)
// into xDS resources for Envoy sidecars and proxyless gRPC clients.
//
// Translation is pure: a [View] in, protos out, no I/O, no clock and no
// randomness, so the same view always yields byte-identical resources. It is
// split by resource kind, like Consul's agent/xds: clusters.go, endpoints.go,
// routes.go and listeners.go. Clusters, routes and listeners depend only on
// the Service; only ClusterLoadAssignments depend on EndpointSlices and
// weights, so an endpoint change touches only that service's EDS resources.
//
// # Resource naming
//
// Every TCP port of a Service of type ClusterIP, NodePort or LoadBalancer, or
// of a headless Service, gets four resources that share one name:
//
//	<service>.<namespace>.svc.<domain>:<port>
//
// for example "echo.default.svc.cluster.local:8080", where <domain> is
// View.Domain (default "cluster.local") and <port> is the Service port (not
// the target port). The name is exactly the host:port of the gRPC target
// "xds:///echo.default.svc.cluster.local:8080", which grpc-go requires of the
// Listener name. The four resources are:
//
//   - Listener (LDS): for proxyless gRPC. It has no address; it carries an
//     ApiListener holding an HttpConnectionManager with an inline route
//     configuration (go-control-plane's snapshot consistency check does not
//     follow RDS names inside an ApiListener) and the router filter.
//   - RouteConfiguration (RDS): for Envoy sidecars. One virtual host whose
//     domains are "<host>:<port>", "<host>" and "*", routing prefix "/" to the
//     cluster. The Listener's inline route configuration is the same.
//   - Cluster (CDS): type EDS over ADS. load_balancing_policy lists, in order,
//     least_request (Envoy, grpc-go >= 1.72), client_side_weighted_round_robin
//     and round_robin (grpc-js-xds); each client takes the first it supports.
//     The legacy lb_policy is left unset because grpc-js-xds rejects
//     LEAST_REQUEST there.
//   - ClusterLoadAssignment (EDS), named after the cluster, from the
//     Service's EndpointSlices: the slice port whose name equals the Service
//     port's name gives the endpoint port. A terminating endpoint that is
//     still serving is DRAINING; otherwise a ready endpoint (ready unset
//     counts as ready) is HEALTHY; anything else is left out. Endpoints are
//     grouped by zone into localities with region "shoal"; each locality's
//     weight is the sum of its endpoints' weights (never zero, because
//     grpc-go drops a locality without a weight) and each endpoint's weight
//     is View.Weights[ip], default 1, capped at MaxWeight.
//
// ExternalName Services, non-TCP ports and FQDN EndpointSlices get no
// resources. An endpoint that appears in several slices is listed once,
// preferring the healthiest status.
//
// # Usage
//
//	res := translate.Translate(&translate.View{
//		Services: []translate.Service{{Service: svc, Slices: slices}},
//	})
//	// res.Listeners, res.Routes, res.Clusters, res.Endpoints are sorted by name.
package translate
