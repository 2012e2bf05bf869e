package l4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
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
	// IdleTimeout closes a connection with no bytes either way for this
	// long (default 1h). Idleness is checked per read deadline, so a
	// silent connection goes after one to two IdleTimeouts.
	IdleTimeout time.Duration
	// Retries is how many other endpoints to try after a failed connect
	// (default 2; negative for none).
	Retries int
	// Logger gets the proxy's logs (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = time.Hour
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

// Proxy forwards the TCP connections of one or more listeners to a
// cluster's endpoints.
type Proxy struct {
	cluster *balancer.Balancer
	opts    Options
	log     *slog.Logger
	dialer  net.Dialer
	m       *serviceMetrics

	// ctx is cancelled when Shutdown gives up waiting, to abort connects.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // one per tracked connection
}

// New returns a proxy to cluster's endpoints; start it with Serve.
func New(cluster *balancer.Balancer, opts Options) *Proxy {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := acquireMetrics(opts.Service)
	return &Proxy{
		cluster:   cluster,
		opts:      opts,
		log:       opts.Logger.With("component", "proxy-l4", "service", m.service),
		m:         m,
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
}

// Serve accepts connections on ln and proxies each until Shutdown, after
// which it returns ErrProxyClosed. It closes ln when it returns.
func (p *Proxy) Serve(ln net.Listener) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		ln.Close()
		return ErrProxyClosed
	}
	p.listeners[ln] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if p.isClosing() {
				return ErrProxyClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors or similar: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.log.Error("accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		backoff = 0
		c := &conn{client: nc}
		if !p.track(c) {
			nc.Close()
			continue
		}
		go p.handle(c)
	}
}

func (p *Proxy) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

func (p *Proxy) track(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	return true
}

func (p *Proxy) untrack(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.wg.Done()
}

// Shutdown stops accepting, then waits for the open connections to end.
// When ctx is done first it cuts the rest, waits for their goroutines and
// returns ctx's error. The service's metrics go with its last proxy.
func (p *Proxy) Shutdown(ctx context.Context) error {
	defer p.m.release()
	p.mu.Lock()
	p.closing = true
	for ln := range p.listeners {
		ln.Close()
	}
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		p.cancel()
		return nil
	case <-ctx.Done():
	}
	p.cancel()
	p.mu.Lock()
	for c := range p.conns {
		c.cut()
	}
	p.mu.Unlock()
	<-done
	return ctx.Err()
}

// conn is one downstream connection and, once connected, its upstream.
type conn struct {
	client net.Conn

	mu       sync.Mutex
	upstream net.Conn
	cutDone  bool
}

// cut closes both sides, from Shutdown.
func (c *conn) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cutDone = true
	c.client.Close()
	if c.upstream != nil {
		c.upstream.Close()
	}
}

// setUpstream records up, or closes it and reports false if the connection
// was cut meanwhile.
func (c *conn) setUpstream(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cutDone {
		up.Close()
		return false
	}
	c.upstream = up
	return true
}

func (p *Proxy) handle(c *conn) {
	defer p.untrack(c)
	defer c.client.Close()
	start := time.Now()
	p.m.active.Inc()
	defer p.m.active.Dec()

	up, h, err := p.connect(c)
	if err != nil {
		if errors.Is(err, ErrNoEndpoint) {
			p.m.noEndpoint.Inc()
		} else {
			p.m.connectFailed.Inc()
		}
		p.log.Debug("connection not proxied", "client", c.client.RemoteAddr().String(), "err", err)
		return
	}
	defer h.End()
	defer up.Close()
	p.m.proxied.Inc()
	err = p.splice(c.client, up)
	p.m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		p.log.Debug("connection ended", "client", c.client.RemoteAddr().String(),
			"endpoint", h.Addr().String(), "err", err)
	}
}

// connect dials endpoints until one answers or the retries run out. The
// returned host has had Begin called.
func (p *Proxy) connect(c *conn) (net.Conn, *balancer.Host, error) {
	var failed []netip.AddrPort
	exclude := func(a netip.AddrPort) bool { return slices.Contains(failed, a) }
	var lastErr error
	for range p.opts.Retries + 1 {
		h, ok := p.cluster.Pick(exclude)
		if !ok {
			break
		}
		h.Begin()
		ctx, cancel := context.WithTimeout(p.ctx, p.opts.ConnectTimeout)
		up, err := p.dialer.DialContext(ctx, "tcp", h.Addr().String())
		cancel()
		if err == nil {
			h.Report(true)
			if !c.setUpstream(up) {
				h.End()
				return nil, nil, fmt.Errorf("connect %s: %w", h.Addr(), ErrProxyClosed)
			}
			return up, h, nil
		}
		h.End()
		if p.ctx.Err() != nil {
			// Shutdown aborted the dial; the endpoint is not at fault.
			return nil, nil, fmt.Errorf("connect %s: %w", h.Addr(), ErrProxyClosed)
		}
		h.Report(false)
		p.m.connectFailures.Inc()
		p.log.Debug("connect failed", "endpoint", h.Addr().String(), "err", err)
		failed = append(failed, h.Addr())
		lastErr = err
	}
	if lastErr == nil {
		return nil, nil, ErrNoEndpoint
	}
	return nil, nil, fmt.Errorf("connect after %d attempts: %w", len(failed), lastErr)
}
