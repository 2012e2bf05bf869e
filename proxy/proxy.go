package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/l4"
	"github.com/shoalmesh/shoal/proxy/l7"
	"github.com/shoalmesh/shoal/proxy/loadreport"
	"github.com/shoalmesh/shoal/proxy/xdsclient"
)

// VIPs puts service addresses on, and takes them off, the node.
type VIPs interface {
	Add(netip.Addr) error
	Remove(netip.Addr) error
}

// Balance chooses how endpoints are picked.
type Balance uint8

const (
	// FollowCluster uses each Cluster's load_balancing_policy: round robin
	// for round_robin, least request (weighted power of two choices on
	// active work) for everything else Shoal sends.
	FollowCluster Balance = iota
	// ForceRoundRobin and ForceLeastRequest override the clusters' policy
	// (for comparisons).
	ForceRoundRobin
	ForceLeastRequest
)

// DrainTimeout is how long a removed listener's open connections and
// requests may take to finish before they are cut.
const DrainTimeout = 5 * time.Second

// Config configures a Proxy.
type Config struct {
	// XDSAddr is the control plane's xDS address; NodeID names this proxy.
	XDSAddr, NodeID string
	// VIPs binds service addresses; default: the loopback interface.
	VIPs VIPs
	// Balance is the picking algorithm; default: the cluster's policy.
	Balance Balance
	// Reserved addresses are served by something else on this node (the
	// cluster DNS address, which the resolver answers on itself): their
	// listeners are left alone.
	Reserved []netip.Addr
	// AdminAddr, if set, serves the admin endpoint (config dump, endpoint
	// states, metrics, readiness) on that address.
	AdminAddr string
	// Metrics is what the admin endpoint's /metrics serves; default the
	// process's default registry.
	Metrics prometheus.Gatherer
	Logger  *slog.Logger
}

// Proxy is a running node proxy.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	client *xdsclient.Client
	// applied is the last snapshot Apply accepted (nil before the first).
	applied atomic.Pointer[xdsclient.Snapshot]

	mu        sync.Mutex
	listeners map[string]*listener // by listener name
	clusters  map[string]*balancer.Balancer
	vips      map[netip.Addr]int // listeners per VIP
}

// spec is what a listener serves; a listener whose spec changes is
// replaced.
type spec struct {
	addr    netip.AddrPort
	proto   xdsclient.Protocol
	cluster string
	http    bool
	idle    time.Duration // UDP flows' idle timeout (0: the default)
	bal     *balancer.Balancer
}

// socket is a listener's address as the kernel knows it.
func (s spec) socket() string { return s.proto.String() + " " + s.addr.String() }

type listener struct {
	spec
	name string
	sock io.Closer // net.Listener or net.PacketConn, until Serve owns it
	srv  server
	// drained is closed when the listener has stopped and its connections
	// have finished (or were cut at DrainTimeout).
	drained chan struct{}
}

// server is a listener's data plane: l4 (per connection), l7 (per
// request) or UDP flows.
type server interface {
	Shutdown(context.Context) error
}

// New returns a proxy; Run starts it.
func New(cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.VIPs == nil {
		cfg.VIPs = &LoopbackVIPs{}
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger.With("component", "proxy"),
		listeners: map[string]*listener{}, clusters: map[string]*balancer.Balancer{}, vips: map[netip.Addr]int{}}
	p.client = xdsclient.New(xdsclient.Config{Addr: cfg.XDSAddr, NodeID: cfg.NodeID, Logger: cfg.Logger}, p)
	return p
}

// Run follows the control plane until ctx ends, then closes every listener
// (letting connections finish for up to DrainTimeout) and removes the
// VIPs.
func (p *Proxy) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if p.cfg.AdminAddr != "" {
		// Without its admin endpoint the proxy still serves: a port taken
		// on the node must not take the Services down with it.
		if ln, err := net.Listen("tcp", p.cfg.AdminAddr); err != nil {
			p.log.Error("proxy admin endpoint not served", "addr", p.cfg.AdminAddr, "err", err)
		} else {
			wg.Go(func() { p.serveAdmin(ctx, ln) })
		}
	}
	// Load reports: what this proxy sends each endpoint feeds the
	// control plane's cluster-wide weights, as Envoy's LRS reports do.
	reporter := loadreport.New(loadreport.Config{Addr: p.cfg.XDSAddr, NodeID: p.cfg.NodeID, Logger: p.cfg.Logger,
		Clusters: func() map[string]loadreport.ClusterInfo {
			p.mu.Lock()
			defer p.mu.Unlock()
			return loadreport.FromSnapshot(p.applied.Load(), p.clusters)
		}})
	wg.Go(func() {
		if err := reporter.Run(ctx); err != nil {
			p.log.Error("load reports", "err", err)
		}
	})
	err := p.client.Run(ctx)
	cancel()
	p.closeAll()
	wg.Wait()
	return err
}

// Apply makes the data plane match s: it is the xDS client's handler. It
// is all or nothing: when a listener cannot be bound (its port is in use)
// or a route or listener names a cluster the control plane did not send,
// it returns an error naming the resource — the client NACKs with it — and
// leaves everything as it was.
func (p *Proxy) Apply(s *xdsclient.Snapshot) error {
	p.mu.Lock()
	defer p.mu.Unlock()

	// Balancers: the same one per cluster across updates (it holds the
	// active counts and outlier state) unless the policy changed.
	bals := make(map[string]*balancer.Balancer, len(s.Clusters))
	for name, cl := range s.Clusters {
		mode := p.modeOf(cl)
		b := p.clusters[name]
		if b == nil || b.Mode() != mode {
			b = balancer.New(balancer.Options{Mode: mode})
		}
		bals[name] = b
	}
	plan, err := p.plan(s, bals)
	if err != nil {
		return err
	}

	// Bind what is new before anything changes, so that a port in use
	// refuses the update as a whole. A socket one of our own listeners
	// holds and gives up in this update is bound after that one stops.
	leaving := map[string]bool{}
	for name, l := range p.listeners {
		if sp, ok := plan[name]; !ok || sp != l.spec {
			leaving[l.socket()] = true
		}
	}
	var bound, deferred []*listener
	for name, sp := range plan {
		if cur, ok := p.listeners[name]; ok && cur.spec == sp {
			continue
		}
		l := &listener{spec: sp, name: name, drained: make(chan struct{})}
		if leaving[sp.socket()] {
			deferred = append(deferred, l)
			continue
		}
		if err := p.bind(l); err != nil {
			for _, b := range bound {
				b.sock.Close()
				p.release(b.addr.Addr())
			}
			return &xdsclient.ResourceError{Type: xdsclient.LDS, Name: name, Err: err}
		}
		bound = append(bound, l)
	}

	// Commit.
	for name, cl := range s.Clusters {
		b := bals[name]
		b.Update(endpoints(s.Endpoints[cl.EDSName], b.Mode() == balancer.RoundRobin))
	}
	p.clusters = bals
	for name, l := range p.listeners {
		if sp, ok := plan[name]; !ok || sp != l.spec {
			p.stop(name)
		}
	}
	for _, l := range deferred {
		if err := p.bind(l); err != nil {
			p.log.Warn("cannot serve a service address", "listener", l.name, "addr", l.addr, "err", err)
			continue
		}
		bound = append(bound, l)
	}
	for _, l := range bound {
		p.serve(l)
	}
	p.applied.Store(s)
	return nil
}

// plan is the listeners s asks for, by name, with their clusters. A
// listener waits (is left out) while its route or cluster has not arrived;
// once the clusters have, one that names a missing cluster is an error.
func (p *Proxy) plan(s *xdsclient.Snapshot, bals map[string]*balancer.Balancer) (map[string]spec, error) {
	haveClusters := s.Versions[xdsclient.CDS] != ""
	plan := make(map[string]spec, len(s.Listeners))
	for name, l := range s.Listeners {
		if slices.Contains(p.cfg.Reserved, l.Addr.Addr()) {
			continue
		}
		cluster := l.Cluster
		if l.HTTP() {
			rc, ok := s.Routes[l.Route]
			if !ok {
				continue // RDS follows LDS
			}
			for _, vh := range rc.VirtualHosts {
				for _, r := range vh.Routes {
					if _, ok := s.Clusters[r.Cluster]; !ok && haveClusters {
						return nil, &xdsclient.ResourceError{Type: xdsclient.RDS, Name: rc.Name,
							Err: fmt.Errorf("virtual host %q routes to unknown cluster %q", vh.Name, r.Cluster)}
					}
				}
			}
			cluster = firstCluster(rc)
		}
		if bals[cluster] == nil {
			if haveClusters && cluster != "" {
				return nil, &xdsclient.ResourceError{Type: xdsclient.LDS, Name: name,
					Err: fmt.Errorf("unknown cluster %q", cluster)}
			}
			continue
		}
		plan[name] = spec{addr: l.Addr, proto: l.Protocol, cluster: cluster, http: l.HTTP(), idle: l.IdleTimeout, bal: bals[cluster]}
	}
	return plan, nil
}

// modeOf is the picking algorithm for a cluster.
func (p *Proxy) modeOf(cl xdsclient.Cluster) balancer.Mode {
	switch p.cfg.Balance {
	case ForceRoundRobin:
		return balancer.RoundRobin
	case ForceLeastRequest:
		return balancer.LeastRequest
	}
	policy := cl.LegacyLBPolicy
	if len(cl.LBPolicies) > 0 {
		policy = cl.LBPolicies[0]
	}
	switch policy {
	case "envoy.load_balancing_policies.round_robin", "ROUND_ROBIN":
		return balancer.RoundRobin
	}
	return balancer.LeastRequest
}

// bind adds l's VIP and opens its socket.
func (p *Proxy) bind(l *listener) error {
	vip := l.addr.Addr()
	if p.vips[vip] == 0 {
		if err := p.cfg.VIPs.Add(vip); err != nil {
			return fmt.Errorf("add VIP %s: %w", vip, err)
		}
	}
	p.vips[vip]++
	var err error
	if l.proto == xdsclient.UDP {
		l.sock, err = net.ListenPacket("udp", l.addr.String())
	} else {
		l.sock, err = net.Listen("tcp", l.addr.String())
	}
	if err != nil {
		p.release(vip)
		return err
	}
	return nil
}

// serve starts l's data plane on its bound socket.
func (p *Proxy) serve(l *listener) {
	var run func() error
	switch {
	case l.proto == xdsclient.UDP:
		u := l4.NewUDP(l.bal, l4.UDPOptions{Service: l.cluster, IdleTimeout: l.idle, Logger: p.log})
		l.srv, run = u, func() error { return u.Serve(l.sock.(net.PacketConn)) }
	case l.http:
		// Each request, not each connection: keep-alive HTTP/1.1 and
		// HTTP/2 (gRPC) clients would otherwise stay on one pod.
		h := l7.New(l.bal, l7.Options{Service: l.cluster, Logger: p.log})
		l.srv, run = h, func() error { return h.Serve(l.sock.(net.Listener)) }
	default:
		t := l4.New(l.bal, l4.Options{Service: l.cluster, Logger: p.log})
		l.srv, run = t, func() error { return t.Serve(l.sock.(net.Listener)) }
	}
	go func() {
		if err := run(); err != nil && !errors.Is(err, l4.ErrProxyClosed) && !errors.Is(err, l7.ErrProxyClosed) {
			p.log.Warn("listener stopped", "listener", l.name, "err", err)
		}
	}()
	p.listeners[l.name] = l
	p.log.Info("serving service address", "listener", l.name, "addr", l.addr, "protocol", l.proto,
		"cluster", l.cluster, "http", l.http, "balance", l.bal.Mode())
}

// stop closes a listener: no new connections; open ones get DrainTimeout
// to finish.
func (p *Proxy) stop(name string) {
	l, ok := p.listeners[name]
	if !ok {
		return
	}
	delete(p.listeners, name)
	ctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	go func() {
		defer close(l.drained)
		defer cancel()
		l.srv.Shutdown(ctx)
	}()
	p.release(l.addr.Addr())
}

func (p *Proxy) release(vip netip.Addr) {
	p.vips[vip]--
	if p.vips[vip] <= 0 {
		delete(p.vips, vip)
		if err := p.cfg.VIPs.Remove(vip); err != nil {
			p.log.Warn("remove VIP", "vip", vip, "err", err)
		}
	}
}

// closeAll stops every listener and waits for them to drain.
func (p *Proxy) closeAll() {
	p.mu.Lock()
	var drained []chan struct{}
	for name, l := range p.listeners {
		drained = append(drained, l.drained)
		p.stop(name)
	}
	p.mu.Unlock()
	for _, d := range drained {
		<-d
	}
}

// endpoints are the ones that may take connections: healthy ones, and
// draining ones marked so (they finish what they have, get nothing new).
// Round robin is plain round robin, as gRPC's round_robin is: the load
// weights are for the least-loaded policy.
func endpoints(eps []xdsclient.Endpoint, unweighted bool) []balancer.Endpoint {
	out := make([]balancer.Endpoint, 0, len(eps))
	for _, e := range eps {
		if unweighted {
			e.Weight = 1
		}
		switch e.Health {
		case xdsclient.Healthy, xdsclient.HealthUnknown:
			out = append(out, balancer.Endpoint{Addr: e.Addr, Weight: e.Weight})
		case xdsclient.Draining:
			out = append(out, balancer.Endpoint{Addr: e.Addr, Weight: e.Weight, Draining: true})
		}
	}
	return out
}

// firstCluster is the cluster of an HTTP listener's first route: Shoal's
// route configurations send everything ("/") to the port's one cluster.
func firstCluster(rc xdsclient.RouteConfig) string {
	for _, vh := range rc.VirtualHosts {
		for _, r := range vh.Routes {
			if r.Cluster != "" {
				return r.Cluster
			}
		}
	}
	return ""
}
