// Package proxy is Shoal's node proxy: an xDS client of the control plane
// (package xdsclient) that binds every service VIP:port it is given and
// proxies each connection to the least-loaded ready endpoint (packages
// balancer and l4), so a ClusterIP works on the node and from its pods.
//
// VIPs go on an interface of the node (the loopback interface by default:
// the dummy driver kube-proxy's IPVS mode uses is not on every kernel).
// Ports the control plane marks HTTP (an HTTP connection manager: appProtocol
// http/http2/grpc or a port named http*/grpc*) are balanced per request
// (package l7: HTTP/1.1 and h2c, so keep-alive and gRPC clients spread);
// the others per connection (package l4). UDP and load reports to the
// control plane are still to come.
package proxy
