// Package proxy is Shoal's node proxy: an xDS client of the control plane
// (package xdsclient) that binds every service VIP:port it is given and
// proxies each connection to the least-loaded ready endpoint (packages
// balancer and l4), so a ClusterIP works on the node and from its pods.
//
// VIPs go on an interface of the node (the loopback interface by default:
// the dummy driver kube-proxy's IPVS mode uses is not on every kernel).
// This version balances connections (L4) on every port, HTTP ones too:
// per-request balancing of keep-alive HTTP, UDP, and load reports to the
// control plane are still to come.
package proxy
