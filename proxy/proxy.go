package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/l4"
	"github.com/shoalmesh/shoal/proxy/l7"
	"github.com/shoalmesh/shoal/proxy/xdsclient"
)

// VIPs puts service addresses on, and takes them off, the node.
type VIPs interface {
	Add(netip.Addr) error
	Remove(netip.Addr) error
}

// Config configures a Proxy.
type Config struct {
	// XDSAddr is the control plane's xDS address; NodeID names this proxy.
	XDSAddr, NodeID string
	// VIPs binds service addresses; default: the loopback interface.
	VIPs VIPs
	// Mode is the balancing: least request (default) or round robin.
	Mode balancer.Mode
	// Reserved addresses are served by something else on this node (the
	// cluster DNS address, which the resolver answers on itself): their
	// listeners are left alone.
	Reserved []netip.Addr
	Logger   *slog.Logger
}

// Proxy is a running node proxy.
type Proxy struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	listeners map[string]*listener // by listener name
	clusters  map[string]*balancer.Cluster
	vips      map[netip.Addr]int // listeners per VIP
}

type listener struct {
	addr    netip.AddrPort
	cluster string
	http    bool
	ln      net.Listener
	p       server
	done    chan struct{}
}

// server is a listener's data plane: l4 (per connection) or l7 (per
// request).
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// New returns a proxy; Run starts it.
func New(cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.VIPs == nil {
		cfg.VIPs = LoopbackVIPs{}
	}
	return &Proxy{cfg: cfg, log: cfg.Logger.With("component", "proxy"),
		listeners: map[string]*listener{}, clusters: map[string]*balancer.Cluster{}, vips: map[netip.Addr]int{}}
}

// Run follows the control plane until ctx ends, then closes every listener
// (letting connections finish for up to a few seconds) and removes the VIPs.
func (p *Proxy) Run(ctx context.Context) error {
	c := xdsclient.New(xdsclient.Config{Addr: p.cfg.XDSAddr, NodeID: p.cfg.NodeID, Logger: p.cfg.Logger}, p)
	err := c.Run(ctx)
	p.closeAll()
	return err
}

// Apply makes the data plane match s: it is the xDS client's handler.
// Ports that cannot be bound (one the node already serves, such as the DNS
// address) are logged and skipped rather than refused: the rest of the
// configuration is good.
func (p *Proxy) Apply(s *xdsclient.Snapshot) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Endpoints first, so a new listener has them.
	for name, cl := range s.Clusters {
		b := p.clusters[name]
		if b == nil {
			b = balancer.New(balancer.Options{Mode: p.cfg.Mode})
			p.clusters[name] = b
		}
		b.Update(endpoints(s.Endpoints[cl.EDSName]))
	}
	want := map[string]bool{}
	for name, l := range s.Listeners {
		if l.Protocol != xdsclient.TCP || slices.Contains(p.cfg.Reserved, l.Addr.Addr()) {
			continue
		}
		cluster := l.Cluster
		if l.HTTP() {
			cluster = firstCluster(s.Routes[l.Route])
		}
		if cluster == "" || p.clusters[cluster] == nil {
			continue // its route or cluster has not arrived yet
		}
		want[name] = true
		if cur, ok := p.listeners[name]; ok && cur.addr == l.Addr && cur.cluster == cluster && cur.http == l.HTTP() {
			continue
		}
		p.stop(name)
		if err := p.start(name, l.Addr, cluster, l.HTTP()); err != nil {
			p.log.Warn("cannot serve a service address; skipping it", "listener", name, "addr", l.Addr, "err", err)
		}
	}
	for name := range p.listeners {
		if !want[name] {
			p.stop(name)
		}
	}
	for name := range p.clusters {
		if _, ok := s.Clusters[name]; !ok {
			delete(p.clusters, name)
		}
	}
	return nil
}

// start binds addr (adding its VIP) and serves it from cluster.
func (p *Proxy) start(name string, addr netip.AddrPort, cluster string, http bool) error {
	if p.vips[addr.Addr()] == 0 {
		if err := p.cfg.VIPs.Add(addr.Addr()); err != nil {
			return fmt.Errorf("add VIP %s: %w", addr.Addr(), err)
		}
	}
	p.vips[addr.Addr()]++
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		p.release(addr.Addr())
		return err
	}
	var srv server = l4.New(p.clusters[cluster], l4.Options{Logger: p.log})
	if http {
		// Each request, not each connection: keep-alive HTTP/1.1 and
		// HTTP/2 (gRPC) clients would otherwise stay on one pod.
		srv = l7.New(p.clusters[cluster], l7.Options{Logger: p.log})
	}
	l := &listener{addr: addr, cluster: cluster, http: http, ln: ln, p: srv, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		if err := l.p.Serve(ln); err != nil && !errors.Is(err, l4.ErrProxyClosed) && !errors.Is(err, l7.ErrProxyClosed) {
			p.log.Warn("listener stopped", "listener", name, "err", err)
		}
	}()
	p.listeners[name] = l
	p.log.Info("serving service address", "listener", name, "addr", addr, "cluster", cluster, "http", http)
	return nil
}

// stop closes a listener: no new connections; open ones get a few
// seconds to finish.
func (p *Proxy) stop(name string) {
	l, ok := p.listeners[name]
	if !ok {
		return
	}
	delete(p.listeners, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	go func() {
		defer cancel()
		l.p.Shutdown(ctx)
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

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name := range p.listeners {
		p.stop(name)
	}
}

// endpoints are the ones that may take connections: healthy ones, and
// draining ones marked so (they finish what they have, get nothing new).
func endpoints(eps []xdsclient.Endpoint) []balancer.Endpoint {
	out := make([]balancer.Endpoint, 0, len(eps))
	for _, e := range eps {
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
