package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/proxy"
)

// Agent modes of `shoal up` (Config.Agent).
const (
	AgentOff  = "off"  // no node agent (the default for library use and tests)
	AgentAuto = "auto" // run one when the machine allows (root, CAP_NET_ADMIN, cgroups, containerd); say why not otherwise
	AgentOn   = "on"   // run one or fail
)

// JoinNodeName is the node name `shoal up` prepares a join command for.
const JoinNodeName = "node-2"

// agentPlan is what Up decided about the node agent before starting.
type agentPlan struct {
	run bool
	why string // why not, when !run
}

// planAgent decides whether Up runs a node agent.
func planAgent(cfg Config) (agentPlan, error) {
	switch cfg.Agent {
	case "", AgentOff:
		return agentPlan{why: "--agent=off"}, nil
	case AgentAuto, AgentOn:
	default:
		return agentPlan{}, fmt.Errorf("--agent=%q: must be on, off or auto", cfg.Agent)
	}
	if err := nodeagent.Preflight(cfg.RuntimeEndpoint); err != nil {
		if cfg.Agent == AgentOn {
			return agentPlan{}, fmt.Errorf("node agent: %w", err)
		}
		return agentPlan{why: err.Error()}, nil
	}
	return agentPlan{run: true}, nil
}

// LoadRegistries reads a registries.yaml (k3s's format: mirrors and TLS
// per registry) for the agent's containerd; "" is none.
func LoadRegistries(path string) (containerd.Registries, error) {
	if path == "" {
		return containerd.Registries{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return containerd.Registries{}, fmt.Errorf("--registries: %w", err)
	}
	r, err := containerd.ParseRegistries(b)
	if err != nil {
		return containerd.Registries{}, fmt.Errorf("--registries %s: %w", path, err)
	}
	return r, nil
}

// addClusterDNSAddr puts the cluster DNS service IP on the loopback
// interface, so the resolver can listen on it and pods (whose default route
// leads to this host) reach it. The returned func removes it.
func addClusterDNSAddr(ip netip.Addr) (func(), error) {
	var lo proxy.LoopbackVIPs
	if err := lo.Add(ip); err != nil {
		return nil, err
	}
	// The address is shoal up's, even if a killed one left it there.
	return func() { proxy.RemoveFromLoopback(ip) }, nil
}

// startAgent runs the node agent of `shoal up` against in's API server with
// a node token, until ctx ends; in.Wait waits for it too.
// stopped is closed once the agent has stopped, or has failed to start.
func startAgent(ctx context.Context, cancel func(), stopped chan<- struct{}, cfg Config, in *Instance) (err error) {
	defer func() {
		if err != nil {
			close(stopped)
		}
	}()
	name, err := serverName(cfg)
	if err != nil {
		return fmt.Errorf("node agent: %w", err)
	}
	token, err := in.Tokens.NodeToken(name)
	if err != nil {
		return fmt.Errorf("node agent: token: %w", err)
	}
	var nodeIP netip.Addr
	if cfg.NodeIP != "" {
		if nodeIP, err = netip.ParseAddr(cfg.NodeIP); err != nil {
			return fmt.Errorf("--node-ip %q: %w", cfg.NodeIP, err)
		}
	}
	registries, err := LoadRegistries(cfg.RegistriesFile)
	if err != nil {
		return err
	}
	serviceCIDR, err := netip.ParsePrefix(cfg.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("service CIDR %q: %w", cfg.ServiceCIDR, err)
	}
	// One registry for the agent and its proxy: the agent's /metrics
	// serves both.
	metrics := prometheus.NewRegistry()
	a, err := nodeagent.New(nodeagent.Config{
		REST: &rest.Config{Host: in.APIURL, BearerToken: token,
			TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(cfg.DataDir, "pki", pki.CACertFile)}},
		NodeName:        name,
		NodeIP:          nodeIP,
		DataDir:         filepath.Join(cfg.DataDir, "agent"),
		ImagesDir:       filepath.Join(cfg.DataDir, "images"),
		RuntimeEndpoint: cfg.RuntimeEndpoint,
		Registries:      registries,
		ClusterDNS:      in.Registry.ClusterDNSIP(),
		ServiceCIDR:     serviceCIDR,
		Metrics:         metrics,
		Logger:          cfg.Log,

		LeaseRenewInterval: cfg.NodeLeaseRenewInterval,
	})
	if err != nil {
		return fmt.Errorf("node agent: %w", err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-agentDone:
		return fmt.Errorf("node agent: %w", err)
	}
	// The node proxy: service VIPs on this host, for it and its pods.
	px := proxy.New(proxy.Config{XDSAddr: in.XDSAddr, NodeID: "proxy-" + name,
		Reserved: []netip.Addr{in.Registry.ClusterDNSIP()}, AdminAddr: cfg.ProxyAdminAddr, Metrics: metrics, Logger: cfg.Log})
	if err := px.RegisterMetrics(metrics); err != nil {
		return fmt.Errorf("node proxy metrics: %w", err)
	}
	proxyDone := make(chan struct{})
	go func() {
		defer close(proxyDone)
		if err := px.Run(ctx); err != nil {
			cfg.Log.Error("node proxy", "err", err)
		}
	}()
	// From here on an agent that fails stops everything; Wait says why.
	ran := make(chan error, 1)
	go func() {
		err := <-agentDone
		if err != nil && ctx.Err() == nil {
			cancel() // stops the proxy too
		}
		<-proxyDone
		close(stopped)
		ran <- err
	}()
	in.NodeName = name
	prev := in.done
	all := make(chan error, 1)
	go func() {
		err := <-prev
		if agentErr := <-ran; err == nil && agentErr != nil {
			err = fmt.Errorf("node agent: %w", agentErr)
		}
		all <- err
	}()
	in.done = all
	return nil
}
