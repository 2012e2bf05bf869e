// Package l4 proxies TCP connections accepted on a listener to the
// endpoints of a balancer.Balancer.
//
// Each accepted connection gets one endpoint, picked by the cluster
// (power of two choices on active connections by default). A failed
// connect is reported to the cluster's outlier detection and retried on
// another endpoint, excluding those that failed, as the userspace
// kube-proxy did. Bytes are then spliced both ways with splice(2) through
// *net.TCPConn.ReadFrom; when one side stops sending its peer gets a
// half-close (CloseWrite) and the other direction carries on. A
// connection with no bytes either way for IdleTimeout is closed.
//
//	p := l4.New(cluster, l4.Options{Logger: logger})
//	go p.Serve(ln)
//	...
//	err := p.Shutdown(ctx) // stop accepting, drain, cut at ctx's deadline
package l4
