// Package l7 proxies the HTTP requests accepted on a listener to the
// endpoints of a balancer.Cluster, picking an endpoint per request rather
// than per connection, so that keep-alive HTTP/1.1 clients and HTTP/2
// (gRPC) clients, which hold one connection for a long time, are spread
// over every endpoint (kubernetes#38456).
//
// The listener speaks HTTP/1.1 and cleartext HTTP/2 with prior knowledge
// (h2c, as gRPC uses it; the HTTP/1.1 Upgrade: h2c dance is not offered).
// A request goes upstream in the protocol it came in: HTTP/2 requests over
// a shared HTTP/2 transport (trailers and streaming intact, as gRPC needs),
// the rest over a shared HTTP/1.1 transport with per-endpoint keep-alive
// pools. Responses are flushed as they arrive.
//
// Each request is counted active on its endpoint (Host.Begin/End) from the
// pick until its response body is done, so the cluster's least-request
// picks see slow endpoints. A failed connect, or a 502, 503 or 504 from the
// endpoint, is reported to outlier detection as a failure. A failed
// attempt is retried on another endpoint, excluding those that failed, as
// long as the proxy has not read a byte of the request body, when nothing
// reached the endpoint (a failed connect; any method) or when the request
// is idempotent (GET, HEAD, OPTIONS, TRACE, or one with an Idempotency-Key,
// as net/http decides) and its connection was reset or closed before the
// response headers, as a pod killed with requests in flight does (Envoy's
// retry_on "connect-failure,reset"). gRPC calls are POSTs: only their
// failed connects are retried. With no eligible endpoint the client gets
// 503.
//
// Metrics (shoal_proxy_requests_total, _active_requests,
// _request_duration_seconds, _upstream_errors_total, _retries_total) are
// labelled with Options.Service; RegisterMetrics adds them to a registry,
// and a service's series go when its last proxy shuts down.
//
//	p := l7.New(cluster, l7.Options{Service: clusterName, Logger: logger})
//	go p.Serve(ln)
//	...
//	err := p.Shutdown(ctx) // stop accepting, finish requests, cut at ctx's deadline
package l7
