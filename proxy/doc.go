// Package proxy is Shoal's node proxy: an xDS client of the control plane
// (package xdsclient) that binds every service VIP:port it is given and
// sends each connection, or each HTTP request, to the least-loaded ready
// endpoint (packages balancer, l4 and l7), so a ClusterIP works on the node
// and from its pods.
//
// VIPs go on an interface of the node (the loopback interface by default:
// the dummy driver kube-proxy's IPVS mode uses is not on every kernel).
// Ports the control plane marks HTTP (an HTTP connection manager: appProtocol
// http/http2/grpc or a port named http*/grpc*) are balanced per request
// (package l7: HTTP/1.1 and h2c, so keep-alive and gRPC clients spread);
// other TCP ports per connection and UDP ports per client flow (package l4).
//
// A configuration is applied whole or not at all (Apply): a listener whose
// port is in use, or a route or listener naming a cluster the control plane
// did not send, refuses the update, which the client NACKs with the reason,
// and the proxy goes on serving the last good one — also while the control
// plane is away. The proxy reports each endpoint's requests, errors and
// in-flight work to the control plane over LRS (package loadreport), which
// turns every proxy's and client's reports into the endpoints' weights.
//
// The admin endpoint (Config.AdminAddr) serves the live configuration
// (/config_dump), the endpoints' states (/clusters), the listeners,
// readiness, metrics and pprof.
package proxy
