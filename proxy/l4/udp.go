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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/metrics"
	"github.com/shoalmesh/shoal/proxy/balancer"
)

// UDPOptions configures a UDPProxy. Zero fields take the defaults.
type UDPOptions struct {
	// Service names the proxied service in the metrics: the xDS cluster
	// name, e.g. "kube-dns.kube-system.svc.cluster.local:53/udp" (default
	// "unknown").
	Service string
	// IdleTimeout ends a flow with no datagram either way for this long
	// (default 30s, Linux conntrack's UDP timeout; xDS gives it as the
	// udp_proxy idle_timeout).
	IdleTimeout time.Duration
	// MaxFlows caps the flows (client addresses) open at once over all of
	// the proxy's sockets; a datagram that would open one more is dropped
	// (default 65536).
	MaxFlows int
	// MaxDatagramSize is the largest datagram forwarded either way; a
	// larger one is dropped whole rather than passed on truncated (default
	// 9000: a jumbo frame, above EDNS0's usual 4096). Each flow holds a
	// buffer of this size.
	MaxDatagramSize int
	// Logger gets the proxy's logs (default: discarded).
	Logger *slog.Logger
}

// Defaults of UDPOptions.
const (
	DefaultUDPIdleTimeout     = 30 * time.Second
	DefaultUDPMaxFlows        = 65536
	DefaultUDPMaxDatagramSize = 9000
)

func (o UDPOptions) withDefaults() UDPOptions {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultUDPIdleTimeout
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = DefaultUDPMaxFlows
	}
	if o.MaxDatagramSize <= 0 {
		o.MaxDatagramSize = DefaultUDPMaxDatagramSize
	}
	o.MaxDatagramSize = min(o.MaxDatagramSize, 65535)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// UDPProxy forwards the datagrams of one or more UDP sockets to a
// cluster's endpoints, as Envoy's udp_proxy and the userspace kube-proxy
// do: each client address is a flow that sticks to one endpoint, picked
// when its first datagram comes, over a connected socket of its own;
// replies on that socket go back to the client from the socket the client
// sent to. A flow ends after IdleTimeout without datagrams, or when the
// endpoint refuses (ICMP port unreachable, seen as ECONNREFUSED on the
// connected socket), which is reported to the cluster's outlier detection;
// the client's next datagram then picks again.
//
// Each flow has one goroutine, reading its upstream socket. A flow reports
// its outcome to the cluster once: success with its first reply, failure if
// the endpoint refuses before that. A flow that gets no reply and no error
// (one-way traffic such as syslog) reports nothing.
type UDPProxy struct {
	cluster *balancer.Balancer
	opts    UDPOptions
	log     *slog.Logger
	m       *udpMetrics

	mu      sync.Mutex
	closing bool
	socks   map[net.PacketConn]struct{}
	flows   map[flowKey]*flow
	wg      sync.WaitGroup // one per flow
}

// flowKey tells flows apart: a client address on one of the proxy's
// sockets.
type flowKey struct {
	sock   net.PacketConn
	client netip.AddrPort
}

// flow is one client address and its endpoint.
type flow struct {
	key  flowKey
	sock packetConn
	up   *net.UDPConn
	host *balancer.Host
	// last is the unix-nano time of the last datagram either way; it is
	// written under UDPProxy.mu by the serving side so that expiry, also
	// under mu, never races with a datagram on its way up.
	last     atomic.Int64
	reported atomic.Bool // the outcome went to the cluster
	failed   atomic.Bool
}

// NewUDP returns a UDP proxy to cluster's endpoints; start it with Serve.
func NewUDP(cluster *balancer.Balancer, opts UDPOptions) *UDPProxy {
	opts = opts.withDefaults()
	m := acquireUDPMetrics(opts.Service)
	return &UDPProxy{
		cluster: cluster,
		opts:    opts,
		log:     opts.Logger.With("component", "proxy-udp", "service", m.service),
		m:       m,
		socks:   map[net.PacketConn]struct{}{},
		flows:   map[flowKey]*flow{},
	}
}

// Serve reads datagrams on pc and proxies them until Shutdown, after which
// it returns ErrProxyClosed. It closes pc when it returns. A *net.UDPConn
// is read without allocating and its truncated datagrams are dropped; any
// other net.PacketConn must deliver *net.UDPAddr source addresses.
func (p *UDPProxy) Serve(pc net.PacketConn) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		pc.Close()
		return ErrProxyClosed
	}
	p.socks[pc] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.socks, pc)
		p.mu.Unlock()
		pc.Close()
	}()

	sock := wrapPacketConn(pc)
	buf := make([]byte, p.opts.MaxDatagramSize+1) // +1: see truncation without MSG_TRUNC
	for {
		n, trunc, client, err := sock.read(buf)
		if err != nil {
			if p.isClosing() {
				return ErrProxyClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read on %s: %w", pc.LocalAddr(), err)
		}
		if trunc || n > p.opts.MaxDatagramSize {
			p.m.dropTooBig.Inc()
			continue
		}
		if !client.IsValid() {
			p.m.dropNoFlow.Inc()
			continue
		}
		p.forward(sock, flowKey{pc, client}, buf[:n])
	}
}

// forward sends one client datagram up its flow, opening the flow first if
// needed.
func (p *UDPProxy) forward(sock packetConn, k flowKey, b []byte) {
	f, err := p.flowFor(sock, k)
	if err != nil {
		p.log.Debug("datagram dropped", "client", k.client.String(), "err", err)
		return
	}
	if _, err := f.up.Write(b); err != nil {
		p.m.dropUpstream.Inc()
		if !errors.Is(err, net.ErrClosed) {
			// The endpoint refused an earlier datagram: end the flow now
			// so that the client's next datagram picks again.
			p.fail(f, err)
		}
		return
	}
	p.m.datagramsUp.Inc()
	p.m.bytesUp.Add(float64(len(b)))
}

// flowFor returns k's flow, marked active now, or opens one.
func (p *UDPProxy) flowFor(sock packetConn, k flowKey) (*flow, error) {
	now := time.Now().UnixNano()
	p.mu.Lock()
	if f, ok := p.flows[k]; ok {
		f.last.Store(now)
		p.mu.Unlock()
		return f, nil
	}
	closing, full := p.closing, len(p.flows) >= p.opts.MaxFlows
	p.mu.Unlock()
	switch {
	case closing:
		return nil, ErrProxyClosed
	case full:
		p.m.flowLimit.Inc()
		p.m.dropFlowLimit.Inc()
		return nil, ErrTooManyFlows
	}

	up, h, err := p.connect()
	if err != nil {
		if errors.Is(err, ErrNoEndpoint) {
			p.m.noEndpoint.Inc()
		} else {
			p.m.connectFailed.Inc()
		}
		p.m.dropNoFlow.Inc()
		return nil, err
	}
	f := &flow{key: k, sock: sock, up: up, host: h}
	f.last.Store(now)
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		up.Close()
		h.End()
		return nil, ErrProxyClosed
	}
	// Only this Serve loop adds flows of its socket, so k is still free.
	p.flows[k] = f
	p.wg.Add(1)
	p.mu.Unlock()
	p.m.proxied.Inc()
	p.m.active.Inc()
	go p.run(f)
	return f, nil
}

// connect opens a connected socket to a picked endpoint, trying others if
// that fails (it seldom does: nothing is sent yet). The returned host has
// had Begin called.
func (p *UDPProxy) connect() (*net.UDPConn, *balancer.Host, error) {
	var failed []netip.AddrPort
	exclude := func(a netip.AddrPort) bool { return slices.Contains(failed, a) }
	lastErr := ErrNoEndpoint
	for range 3 {
		h, ok := p.cluster.Pick(exclude)
		if !ok {
			break
		}
		h.Begin()
		up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(h.Addr()))
		if err == nil {
			return up, h, nil
		}
		h.End()
		h.Report(false)
		failed = append(failed, h.Addr())
		lastErr = fmt.Errorf("connect %s: %w", h.Addr(), err)
	}
	return nil, nil, lastErr
}

// run carries f's replies back to its client until f ends, then ends it.
func (p *UDPProxy) run(f *flow) {
	defer p.wg.Done()
	defer p.m.active.Dec()
	defer f.host.End()
	defer f.up.Close()
	defer p.remove(f)

	buf := make([]byte, p.opts.MaxDatagramSize+1)
	deadline := time.Unix(0, f.last.Load()).Add(p.opts.IdleTimeout)
	f.up.SetReadDeadline(deadline)
	for {
		n, _, flags, _, err := f.up.ReadMsgUDPAddrPort(buf, nil)
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, net.ErrClosed):
				return // expired, failed or shut down elsewhere
			case errors.As(err, &ne) && ne.Timeout():
				if next, idle := p.expire(f); !idle {
					f.up.SetReadDeadline(next)
					continue
				}
				p.log.Debug("flow idle", "client", f.key.client.String(), "endpoint", f.host.Addr().String())
				return
			default:
				p.fail(f, err)
				return
			}
		}
		if flags&syscall.MSG_TRUNC != 0 || n > p.opts.MaxDatagramSize {
			p.m.dropTooBig.Inc()
			continue
		}
		f.last.Store(time.Now().UnixNano())
		if f.reported.CompareAndSwap(false, true) {
			f.host.Report(true)
		}
		if err := f.sock.write(buf[:n], f.key.client); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return // the listening socket is gone
			}
			p.m.dropDownstream.Inc()
			continue
		}
		p.m.datagramsDown.Inc()
		p.m.bytesDown.Add(float64(n))
	}
}

// expire ends f if it has been idle for IdleTimeout, or else returns when
// it next might be.
func (p *UDPProxy) expire(f *flow) (next time.Time, idle bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next = time.Unix(0, f.last.Load()).Add(p.opts.IdleTimeout)
	if time.Now().Before(next) {
		return next, false
	}
	if p.flows[f.key] == f {
		delete(p.flows, f.key)
	}
	return next, true
}

// fail ends f after an upstream error, reporting it unless f has already
// reported success.
func (p *UDPProxy) fail(f *flow, err error) {
	if f.failed.CompareAndSwap(false, true) {
		p.m.upstreamErrors.Inc()
	}
	if f.reported.CompareAndSwap(false, true) {
		f.host.Report(false)
	}
	p.log.Debug("flow failed", "client", f.key.client.String(), "endpoint", f.host.Addr().String(), "err", err)
	p.remove(f)
	f.up.Close()
}

// remove forgets f, unless a new flow already has its key.
func (p *UDPProxy) remove(f *flow) {
	p.mu.Lock()
	if p.flows[f.key] == f {
		delete(p.flows, f.key)
	}
	p.mu.Unlock()
}

func (p *UDPProxy) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// Flows is the number of flows open now.
func (p *UDPProxy) Flows() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.flows)
}

// Shutdown closes the proxy's sockets and every flow, then waits for the
// flows' goroutines. UDP has no connection to drain: a datagram still on
// its way is lost, as it may be anyway. It returns ctx's error if ctx ends
// first. The service's metrics go with its last proxy.
func (p *UDPProxy) Shutdown(ctx context.Context) error {
	defer p.m.release()
	p.mu.Lock()
	p.closing = true
	for pc := range p.socks {
		pc.Close()
	}
	for _, f := range p.flows {
		f.up.Close()
	}
	clear(p.flows)
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// packetConn is a listening socket as the proxy uses it.
type packetConn interface {
	// read returns a datagram's length, whether it was truncated, and its
	// source.
	read(b []byte) (n int, trunc bool, from netip.AddrPort, err error)
	write(b []byte, to netip.AddrPort) error
}

func wrapPacketConn(pc net.PacketConn) packetConn {
	if u, ok := pc.(*net.UDPConn); ok {
		return udpSock{u}
	}
	return genericSock{pc}
}

// udpSock reads and writes without allocating.
type udpSock struct{ c *net.UDPConn }

func (s udpSock) read(b []byte) (int, bool, netip.AddrPort, error) {
	n, _, flags, from, err := s.c.ReadMsgUDPAddrPort(b, nil)
	return n, flags&syscall.MSG_TRUNC != 0, from, err
}

func (s udpSock) write(b []byte, to netip.AddrPort) error {
	_, err := s.c.WriteToUDPAddrPort(b, to)
	return err
}

type genericSock struct{ c net.PacketConn }

func (s genericSock) read(b []byte) (int, bool, netip.AddrPort, error) {
	n, from, err := s.c.ReadFrom(b)
	var ap netip.AddrPort
	if u, ok := from.(*net.UDPAddr); ok {
		ap = u.AddrPort()
	}
	return n, false, ap, err
}

func (s genericSock) write(b []byte, to netip.AddrPort) error {
	_, err := s.c.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

// Metrics of every UDP proxy of the process, by service (the xDS cluster
// name); the other labels are small fixed sets.
var (
	udpFlowsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "udp_flows_total",
		Help: "UDP flows (client addresses) opened or refused, by service and result (proxied, no_endpoint, connect_failed, flow_limit).",
	}, []string{"service", "result"})
	udpActiveFlows = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "udp_active_flows",
		Help: "UDP flows open now, by service.",
	}, []string{"service"})
	udpDatagramsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "udp_datagrams_total",
		Help: "UDP datagrams proxied, by service and direction (upstream: client to endpoint, downstream: endpoint to client).",
	}, []string{"service", "direction"})
	udpBytesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "udp_bytes_total",
		Help: "UDP payload bytes proxied, by service and direction.",
	}, []string{"service", "direction"})
	udpDroppedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "udp_dropped_datagrams_total",
		Help: "UDP datagrams dropped, by service and reason (no_flow, flow_limit, too_big, upstream_error, downstream_error).",
	}, []string{"service", "reason"})
	udpUpstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shoal", Subsystem: "proxy", Name: "udp_upstream_errors_total",
		Help: "UDP flows ended by an endpoint's error (mostly ICMP port unreachable), by service.",
	}, []string{"service"})

	udpSeries = metrics.NewServiceSeries(udpFlowsTotal, udpActiveFlows, udpDatagramsTotal, udpBytesTotal, udpDroppedTotal, udpUpstreamErrors)
)

// RegisterUDPMetrics adds the UDP proxy's metrics to reg. Registering twice
// is not an error.
func RegisterUDPMetrics(reg prometheus.Registerer) error {
	return metrics.Register(reg, udpFlowsTotal, udpActiveFlows, udpDatagramsTotal, udpBytesTotal, udpDroppedTotal, udpUpstreamErrors)
}

// udpMetrics are one service's series, resolved once so that the hot path
// does no label lookup.
type udpMetrics struct {
	service                                        string
	proxied, noEndpoint, connectFailed, flowLimit  prometheus.Counter
	active                                         prometheus.Gauge
	datagramsUp, datagramsDown, bytesUp, bytesDown prometheus.Counter
	dropNoFlow, dropFlowLimit, dropTooBig          prometheus.Counter
	dropUpstream, dropDownstream                   prometheus.Counter
	upstreamErrors                                 prometheus.Counter
	releaseOnce                                    sync.Once
}

func acquireUDPMetrics(service string) *udpMetrics {
	service = udpSeries.Acquire(service)
	flows := func(r string) prometheus.Counter { return udpFlowsTotal.WithLabelValues(service, r) }
	drop := func(r string) prometheus.Counter { return udpDroppedTotal.WithLabelValues(service, r) }
	return &udpMetrics{
		service:        service,
		proxied:        flows("proxied"),
		noEndpoint:     flows("no_endpoint"),
		connectFailed:  flows("connect_failed"),
		flowLimit:      flows("flow_limit"),
		active:         udpActiveFlows.WithLabelValues(service),
		datagramsUp:    udpDatagramsTotal.WithLabelValues(service, "upstream"),
		datagramsDown:  udpDatagramsTotal.WithLabelValues(service, "downstream"),
		bytesUp:        udpBytesTotal.WithLabelValues(service, "upstream"),
		bytesDown:      udpBytesTotal.WithLabelValues(service, "downstream"),
		dropNoFlow:     drop("no_flow"),
		dropFlowLimit:  drop("flow_limit"),
		dropTooBig:     drop("too_big"),
		dropUpstream:   drop("upstream_error"),
		dropDownstream: drop("downstream_error"),
		upstreamErrors: udpUpstreamErrors.WithLabelValues(service),
	}
}

// release drops m's proxy from its service's users (once) and deletes the
// service's series when it was the last.
func (m *udpMetrics) release() {
	m.releaseOnce.Do(func() { udpSeries.Release(m.service) })
}
