package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoalmesh/shoal/proxy/xdsclient"
)

// The admin endpoint, like Envoy's (a subset, in JSON):
//
//	GET /config_dump  the configuration last accepted from the control plane
//	GET /clusters     every cluster's endpoints: weight, draining, active
//	                  work, ejection, counts
//	GET /listeners    the service addresses served and their clusters
//	GET /ready        200 once a configuration has been applied, else 503
//	GET /healthz      200 while the process runs
//	GET /metrics      Prometheus metrics (Config.Metrics)
//	/debug/pprof/     Go's profiles (the endpoint is for the node's admins:
//	                  keep it on loopback)
func (p *Proxy) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if p.applied.Load() == nil {
			http.Error(w, "no configuration from the control plane yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, p.ConfigDump()) })
	mux.HandleFunc("GET /clusters", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, p.BalancerStates()) })
	mux.HandleFunc("GET /listeners", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, p.ListenerStates()) })
	g := prometheus.DefaultGatherer
	if p.cfg.Metrics != nil {
		g = p.cfg.Metrics
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return mux
}

func (p *Proxy) serveAdmin(ctx context.Context, ln net.Listener) {
	srv := &http.Server{Handler: p.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		p.log.Warn("admin endpoint stopped", "err", err)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ConfigDump is the accepted xDS configuration.
type ConfigDump struct {
	NodeID    string                           `json:"node_id"`
	Server    string                           `json:"xds_server"`
	Versions  map[string]string                `json:"versions"`
	Listeners map[string]xdsclient.Listener    `json:"listeners"`
	Routes    map[string]xdsclient.RouteConfig `json:"routes"`
	Clusters  map[string]xdsclient.Cluster     `json:"clusters"`
	Endpoints map[string][]xdsclient.Endpoint  `json:"endpoints"`
}

// ConfigDump returns the configuration last accepted from the control
// plane.
func (p *Proxy) ConfigDump() ConfigDump {
	s := p.client.Snapshot()
	d := ConfigDump{NodeID: p.cfg.NodeID, Server: p.cfg.XDSAddr, Versions: map[string]string{},
		Listeners: s.Listeners, Routes: s.Routes, Clusters: s.Clusters, Endpoints: s.Endpoints}
	for _, t := range []xdsclient.Type{xdsclient.LDS, xdsclient.RDS, xdsclient.CDS, xdsclient.EDS} {
		d.Versions[t.String()] = s.Versions[t]
	}
	return d
}

// BalancerState is the balancer of one xDS cluster, Name, as the data plane
// sees it.
type BalancerState struct {
	Name      string      `json:"name"`
	Balance   string      `json:"balance"`
	Endpoints []HostState `json:"endpoints"`
}

// HostState is one endpoint (balancer.Host) of a balancer.
type HostState struct {
	Addr     netip.AddrPort `json:"address"`
	Weight   uint32         `json:"weight"`
	Draining bool           `json:"draining,omitempty"`
	Ejected  bool           `json:"ejected,omitempty"`
	Active   int64          `json:"active"`
	// RTTMillis is the response-time estimate (HTTP only).
	RTTMillis float64 `json:"rtt_ms,omitempty"`
}

// BalancerStates lists the balancers, by cluster name, with their
// endpoints' states (the admin endpoint's /clusters).
func (p *Proxy) BalancerStates() []BalancerState {
	p.mu.Lock()
	out := make([]BalancerState, 0, len(p.clusters))
	for name, b := range p.clusters {
		cs := BalancerState{Name: name, Balance: b.Mode().String(), Endpoints: []HostState{}}
		for _, h := range b.Hosts() {
			cs.Endpoints = append(cs.Endpoints, HostState{Addr: h.Addr(), Weight: h.Weight(),
				Draining: h.Draining(), Ejected: h.Ejected(), Active: h.Active(),
				RTTMillis: float64(h.RTT().Microseconds()) / 1000})
		}
		out = append(out, cs)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b BalancerState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ListenerState is one served service address.
type ListenerState struct {
	Name     string         `json:"name"`
	Addr     netip.AddrPort `json:"address"`
	Protocol string         `json:"protocol"`
	Cluster  string         `json:"cluster"`
	HTTP     bool           `json:"http"`
}

// ListenerStates lists the listeners being served, by name.
func (p *Proxy) ListenerStates() []ListenerState {
	p.mu.Lock()
	out := make([]ListenerState, 0, len(p.listeners))
	for name, l := range p.listeners {
		out = append(out, ListenerState{Name: name, Addr: l.addr, Protocol: l.proto.String(), Cluster: l.cluster, HTTP: l.http})
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b ListenerState) int { return strings.Compare(a.Name, b.Name) })
	return out
}
