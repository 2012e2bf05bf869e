// Package l7 proxies the HTTP requests accepted on a listener to the
// endpoints of a balancer.Balancer, picking an endpoint per request rather
// than per connection, so that keep-alive HTTP/1.1 clients and HTTP/2
// (gRPC) clients, which hold one connection for a long time, are spread
// over every endpoint (kubernetes#38456).
//
// The listener speaks HTTP/1.x and cleartext HTTP/2 with prior knowledge
// (h2c, as gRPC uses it; the HTTP/1.1 Upgrade: h2c dance is not offered).
// Serve peeks at each connection's first bytes: one that opens with the
// HTTP/2 preface goes to a net/http server, whose requests go upstream
// over a shared HTTP/2 transport (trailers and streaming intact, as gRPC
// needs). HTTP/1.x takes a fast path of its own, as Envoy and HAProxy do
// it: one goroutine per client connection parses each request head,
// picks an endpoint, writes the head (hop-by-hop fields dropped, the
// client appended to X-Forwarded-For) to a keep-alive connection from that
// endpoint's pool, which it owns until the response is done, and copies
// bodies through pooled buffers as bytes: chunked bodies pass as they
// came, only their chunk sizes parsed, trailers included. A response that
// arrives whole goes to the client in one write; streams are flushed as
// they arrive. 1xx responses pass; a 101 answer to an Upgrade request
// (WebSocket) turns the two connections into a tunnel until either side
// closes. Pipelined requests are answered in order, HTTP/1.0 clients get
// keep-alive when they ask for it. A request head over 64 KiB is refused
// with 431, a malformed one or an ambiguous body length with 400. The
// fast path allocates nothing per request in the steady state.
// Options.NetHTTP1 sends HTTP/1.x through the net/http server too, with
// an httputil.ReverseProxy and an http.Transport: for comparison, and as
// a way out.
//
// A request still waiting for its response after a second has the
// client's connection watched by a goroutine of its own, as net/http's
// background read does: when the client leaves, the endpoint's connection
// is cut. The fast path sends a request's whole body before it reads the
// response: it does not do full-duplex HTTP/1.1.
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
// 503. Apart from those retries, a pooled keep-alive connection that the
// endpoint had closed, found dead before any byte of the response, is
// replaced once by a fresh one to the same endpoint when the request may
// be replayed, as net/http does; on the fast path, one idle for a while is
// checked first when the request could not be.
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
