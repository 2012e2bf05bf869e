package l7

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalmesh/shoal/proxy/balancer"
)

// Options configures a Proxy. Zero fields take the defaults.
type Options struct {
	// Service names the proxied service in the metrics: the xDS cluster
	// name, e.g. "web.default.svc.cluster.local:80" (default "unknown").
	Service string
	// ConnectTimeout bounds one connect to an endpoint (default 1s).
	ConnectTimeout time.Duration
	// Retries is how many other endpoints a request tries after a failed
	// connect, or, for an idempotent request, after its connection was
	// reset before the response (default 2; negative for none).
	Retries int
	// Logger gets the proxy's logs (default: discarded).
	Logger *slog.Logger
	// NetHTTP1 serves HTTP/1.x with net/http's server, ReverseProxy and
	// Transport, as HTTP/2 is, rather than with the fast path: for
	// comparison, and as a way out should the fast path misbehave.
	NetHTTP1 bool
}

func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = time.Second
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

const (
	// idleTimeout closes client connections with no request for this long.
	idleTimeout = time.Hour
	// readHeaderTimeout bounds a client's sending of request headers.
	readHeaderTimeout = 30 * time.Second
	// maxIdlePerEndpoint is the keep-alive pool size per endpoint; the
	// net/http default of 2 would reconnect under any concurrency.
	maxIdlePerEndpoint = 256
)

// Proxy forwards the HTTP requests of one or more listeners to a
// cluster's endpoints.
type Proxy struct {
	cluster *balancer.Balancer
	opts    Options
	log     *slog.Logger
	m       *serviceMetrics

	srv     *http.Server
	rp      *httputil.ReverseProxy
	h1, h2c *http.Transport

	// ctx is every request's base context; it is cancelled when Shutdown
	// gives up waiting, to abort the requests still upstream.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	idle     *sync.Cond // signalled when inflight drops to 0
	inflight int

	// The fast path's state: its endpoint connections, its listeners and
	// client connections (under mu), and whether Shutdown began.
	pools   pools
	closing atomic.Bool
	lns     map[net.Listener]struct{}
	conns   map[*clientConn]struct{}
	connWG  sync.WaitGroup
	// watchStop ends watchClients, started with the first Serve.
	watchStop    chan struct{}
	watchStopped bool
	watchWG      sync.WaitGroup
}

// New returns a proxy to cluster's endpoints; start it with Serve.
func New(cluster *balancer.Balancer, opts Options) *Proxy {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := acquireMetrics(opts.Service)
	p := &Proxy{
		cluster: cluster,
		opts:    opts,
		log:     opts.Logger.With("component", "proxy-l7", "service", m.service),
		m:       m,
		ctx:     ctx,
		cancel:  cancel,
		lns:     map[net.Listener]struct{}{},
		conns:   map[*clientConn]struct{}{},
	}
	p.idle = sync.NewCond(&p.mu)
	p.pools.dialer = net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	errLog := slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)

	dialer := &net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, &dialError{err: err}
		}
		return c, nil
	}
	var h1, h2c http.Protocols
	h1.SetHTTP1(true)
	h2c.SetUnencryptedHTTP2(true)
	p.h1 = &http.Transport{
		DialContext:         dial,
		Protocols:           &h1,
		MaxIdleConnsPerHost: maxIdlePerEndpoint,
		IdleConnTimeout:     90 * time.Second,
		// Pass encodings through: the client asked for what it can read.
		DisableCompression: true,
	}
	p.h2c = &http.Transport{
		DialContext:        dial,
		Protocols:          &h2c,
		IdleConnTimeout:    90 * time.Second,
		DisableCompression: true,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: (*transport)(p),
		// A response of known length goes out when complete, headers and
		// body in one write; ReverseProxy flushes every write of the
		// others at once (no Content-Length: gRPC, chunked streams;
		// text/event-stream). Flushing every write of every response
		// cost two or three write(2)s per request.
		FlushInterval:  0,
		ModifyResponse: trailersOnly,
		BufferPool:     bufferPool{},
		ErrorHandler:   p.proxyError,
		ErrorLog:       errLog,
	}

	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		Protocols:         &protos,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return p.ctx },
		ErrorLog:          errLog,
	}
	return p
}

// Serve accepts connections on ln and proxies their requests until
// Shutdown, after which it returns ErrProxyClosed. It closes ln when it
// returns.
//
// HTTP/1.x connections take the fast path (unless Options.NetHTTP1);
// those that open with the HTTP/2 preface go to the net/http server.
func (p *Proxy) Serve(ln net.Listener) error {
	if p.opts.NetHTTP1 {
		err := p.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			return ErrProxyClosed
		}
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	defer ln.Close()
	p.mu.Lock()
	if p.closing.Load() {
		p.mu.Unlock()
		return ErrProxyClosed
	}
	p.lns[ln] = struct{}{}
	if p.watchStop == nil {
		p.watchStop = make(chan struct{})
		p.watchWG.Go(func() { p.watchClients(p.watchStop) })
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.lns, ln)
		p.mu.Unlock()
	}()
	h2 := newConnListener(ln.Addr())
	var wg sync.WaitGroup
	wg.Go(func() { p.srv.Serve(h2) })
	defer func() {
		h2.Close()
		wg.Wait()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if p.closing.Load() {
				return ErrProxyClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("serve %s: %w", ln.Addr(), err)
			}
			// Out of file descriptors and the like: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.log.Debug("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := &clientConn{p: p, nc: nc}
		if !p.track(c) {
			nc.Close()
			return ErrProxyClosed
		}
		go c.serve(h2)
	}
}

// Shutdown stops accepting, closes idle connections and waits for the
// requests in flight to finish. When ctx is done first it aborts the rest,
// waits for their handlers and returns ctx's error. The service's metrics
// go with its last proxy.
func (p *Proxy) Shutdown(ctx context.Context) error {
	defer p.m.release()
	p.mu.Lock()
	p.closing.Store(true)
	for ln := range p.lns {
		ln.Close()
	}
	for c := range p.conns {
		if c.state.CompareAndSwap(connIdle, connClosed) {
			c.nc.Close()
		}
	}
	p.mu.Unlock()
	err := p.srv.Shutdown(ctx)
	done := make(chan struct{})
	go func() {
		p.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
		p.cancel()
		p.mu.Lock()
		for c := range p.conns {
			c.abort()
		}
		p.mu.Unlock()
		<-done
	}
	p.cancel()
	if err != nil {
		p.srv.Close()
	}
	p.mu.Lock()
	if p.watchStop != nil && !p.watchStopped {
		close(p.watchStop)
		p.watchStopped = true
	}
	p.mu.Unlock()
	p.watchWG.Wait()
	p.mu.Lock()
	for p.inflight > 0 {
		p.idle.Wait()
	}
	p.mu.Unlock()
	p.pools.close()
	p.h1.CloseIdleConnections()
	p.h2c.CloseIdleConnections()
	return err
}

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.inflight++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		if p.inflight == 0 {
			p.idle.Broadcast()
		}
		p.mu.Unlock()
	}()
	start := time.Now()
	p.m.active.Inc()
	sw := &statusWriter{ResponseWriter: w}
	// Deferred: the ReverseProxy panics with http.ErrAbortHandler when
	// the response body breaks off.
	defer func() {
		p.m.active.Dec()
		p.m.duration.Observe(time.Since(start).Seconds())
		p.m.requests[class(sw.code, p.ctx.Err() != nil)].Inc()
	}()
	p.rp.ServeHTTP(sw, r)
}

// rewrite points the request at the cluster (the transport fills in the
// endpoint per attempt) and keeps the client's Host header. Like a
// Director-based ReverseProxy it appends the client to X-Forwarded-For and
// leaves the other forwarding headers as the client sent them (Rewrite
// mode strips them first).
func rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	for _, k := range []string{"Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[k]; ok {
			pr.Out.Header[k] = v
		}
	}
	client, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		return
	}
	if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
		client = strings.Join(prior, ", ") + ", " + client
	}
	pr.Out.Header.Set("X-Forwarded-For", client)
}

// proxyError answers a request that got no response from any endpoint.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNoEndpoint):
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
	case r.Context().Err() != nil:
		// The client left, or Shutdown aborted the request: no one to
		// answer. Abort rather than return, or the server would answer
		// an implicit 200 if the connection is still open (Shutdown
		// cancels the requests just before it closes the connections).
		panic(http.ErrAbortHandler)
	default:
		p.log.Debug("request failed", "client", r.RemoteAddr, "method", r.Method, "err", err)
		if neverSent(err) {
			http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
			return
		}
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}
}

// grpcStatusKeys are the headers a gRPC server sends as trailers, or in the
// headers of a trailers-only response (a status and no message).
var grpcStatusKeys = []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"}

// trailersOnly turns a gRPC trailers-only response into headers followed by
// trailers. The proxy flushes the response headers at once (streaming needs
// that), so it cannot end the stream on that same HEADERS frame as the
// upstream did; a status left in the headers would then be followed by an
// END_STREAM without trailers, which gRPC clients read as a broken stream
// ("server closed the stream without sending trailers").
func trailersOnly(res *http.Response) error {
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/grpc") || res.Header.Get("Grpc-Status") == "" {
		return nil
	}
	if res.Trailer == nil {
		res.Trailer = http.Header{}
	}
	for _, k := range grpcStatusKeys {
		if v, ok := res.Header[k]; ok {
			res.Trailer[k] = v
			delete(res.Header, k)
		}
	}
	return nil
}

// bufferPool lends ReverseProxy its copy buffers.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
