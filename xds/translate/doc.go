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
//   - RouteConfiguration (RDS): one virtual host whose domains are
//     "<host>:<port>", "<host>" and "*", routing prefix "/" to the cluster.
//     The ApiListener's inline route configuration is the same.
//   - Cluster (CDS): type EDS over ADS, lrs_server "self" (clients report
//     their load back), and a load_balancing_policy chosen by the Service's
//     shoal.io/lb-policy annotation (api.AnnotationLBPolicy): least-loaded
//     (default) lists wrr_locality{least_request, round_robin},
//     least_request, round_robin; least-request lists least_request,
//     client_side_weighted_round_robin, round_robin; round-robin lists
//     round_robin. Each client takes the first policy it supports. The
//     legacy lb_policy is left unset because grpc-js-xds rejects
//     LEAST_REQUEST there.
//   - ClusterLoadAssignment (EDS), named after the cluster, from the
//     Service's EndpointSlices: the slice port whose name equals the Service
//     port's name gives the endpoint port. A terminating endpoint that is
//     still serving is DRAINING; otherwise a ready endpoint (ready unset
//     counts as ready) is HEALTHY; anything else is left out. Every endpoint
//     is its own locality {region "shoal", zone from the slice, sub_zone =
//     the endpoint IP} whose weight, like the endpoint's, is View.Weights[ip]
//     (default NeutralWeight, capped at MaxWeight, never 0). grpc-go and
//     grpc-js honour locality weights under wrr_locality but ignore endpoint
//     weights, and grpc-go reports load per locality: one endpoint per
//     locality is what makes them follow, and report on, each endpoint.
//
// A Service with a cluster IP also gets, per TCP port, an outbound Listener
// named "<clusterIP>_<port>" bound to that address, for Envoy sidecars and
// Shoal's node proxy (Envoy takes ApiListeners only from its bootstrap): an
// HTTP connection manager over RDS for HTTP ports (appProtocol http, http2,
// grpc or kubernetes.io/h2c, or a name starting with "http" or "grpc"), a
// TCP proxy to the cluster otherwise.
//
// # UDP ports
//
// A UDP port of a Service with a cluster IP gets three resources, for Envoy
// sidecars and Shoal's node proxy only (there is nothing for a proxyless
// gRPC client to dial over UDP): a Cluster and a ClusterLoadAssignment named
//
//	<service>.<namespace>.svc.<domain>:<port>/udp
//
// built exactly as a TCP port's (the assignment takes the slice port of the
// same name and protocol UDP, and its endpoint addresses say UDP), and an
// outbound Listener named "<clusterIP>_<port>/udp" bound to the cluster IP
// over UDP. That listener has no filter chains and one listener filter,
// envoy.filters.udp_listener.udp_proxy, whose matcher falls through
// (on_no_match) to a udp_proxy Route to the cluster, with an idle_timeout of
// UDPIdleTimeout. The "/udp" suffix, in the services(5) notation, keeps the
// names apart from those of a TCP port with the same number (kube-dns serves
// 53/TCP and 53/UDP), while TCP names stay as they were. Since the server
// gives outbound Listeners only to clients that are not gRPC libraries, only
// Envoy and Shoal's node proxy see the UDP listeners; the UDP clusters are
// in CDS for everyone, but proxyless clients ask only for the clusters
// their ApiListeners' routes name.
//
// ExternalName Services, SCTP ports, UDP ports of headless Services and
// FQDN EndpointSlices get no resources. An endpoint that appears in several slices is listed once,
// preferring the healthiest status.
//
// # Usage
//
//	res := translate.Translate(&translate.View{
//		Services: []translate.Service{{Service: svc, Slices: slices}},
//	})
//	// res.Listeners, res.Routes, res.Clusters, res.Endpoints are sorted by name.
package translate
