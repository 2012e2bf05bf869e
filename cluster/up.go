package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/shoalmesh/shoal/controlplane/auth"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Config of a Shoal process.
type Config struct {
	// DataDir keeps the embedded etcd's data, the CA, the tokens and the
	// admin kubeconfig.
	DataDir string
	// APIAddr is where the API server listens (host:port).
	APIAddr string
	// EtcdServers, if set, are the client URLs of an external etcd cluster;
	// otherwise an embedded etcd runs on EtcdClientAddr and EtcdPeerAddr.
	EtcdServers    []string
	EtcdClientAddr string
	EtcdPeerAddr   string
	ServiceCIDR    string
	// DNSAddr is where `shoal up` serves DNS (UDP and TCP) with the built-in
	// Corefile; DNSConf, if set, is a Corefile to run instead.
	DNSAddr string
	DNSConf string
	// XDSAddr is where the xDS (ADS and LRS) server listens.
	XDSAddr string
	// Agent says whether `shoal up` runs a node agent (AgentOff, AgentAuto,
	// AgentOn; "" is off); NodeName and NodeIP override its defaults (the
	// host name, the address of the default route's interface).
	Agent            string
	NodeName, NodeIP string
	// RuntimeEndpoint is an existing CRI runtime for the agent (its
	// --container-runtime-endpoint); "" starts a containerd of its own
	// under <data dir>/agent/containerd. RegistriesFile is a k3s-style
	// registries.yaml of mirrors and TLS settings for that containerd.
	RuntimeEndpoint, RegistriesFile string
	// ProxyAdminAddr is where the node proxy's admin endpoint (config dump,
	// endpoint states, metrics) listens; "" turns it off.
	ProxyAdminAddr string
	Log            *slog.Logger
	// Out receives the start-up banner (how to use kubectl); nil discards it.
	Out io.Writer

	// EncryptionProviderConfig is kube-apiserver's EncryptionConfiguration
	// file; "" is <DataDir>/pki/encryption-config.yaml, made on first start.
	EncryptionProviderConfig string
	// ServiceAccountSigningKeyFile signs service account tokens; "" is
	// <DataDir>/pki/sa.key, made on first start. ServiceAccountKeyFiles
	// are more public keys whose tokens are accepted; ServiceAccountIssuer
	// ("" is https://kubernetes.default.svc.cluster.local) is their iss,
	// and APIAudiences (none: the issuer) the audiences the API accepts.
	ServiceAccountSigningKeyFile string
	ServiceAccountKeyFiles       []string
	ServiceAccountIssuer         string
	APIAudiences                 []string
}

// Defaults as DESIGN.md gives them.
const (
	DefaultDataDir        = "./shoal-data"
	DefaultAPIAddr        = "127.0.0.1:6443"
	DefaultEtcdClientAddr = "127.0.0.1:2379"
	DefaultEtcdPeerAddr   = "127.0.0.1:2380"
	DefaultServiceCIDR    = "10.96.0.0/16"
	DefaultDNSAddr        = "127.0.0.1:10053"
	DefaultXDSAddr        = "127.0.0.1:18000"
	DefaultProxyAdminAddr = "127.0.0.1:15000"
)

// Instance is a started Shoal process.
type Instance struct {
	// APIURL is the API server's https URL; Kubeconfig the admin kubeconfig.
	APIURL     string
	Kubeconfig string
	Etcd       *clientv3.Client
	Registry   *registry.Registry
	Caches     *store.Caches
	// DNSAddr is the address the resolver serves on (shoal up only).
	DNSAddr string
	// XDSAddr is the address the xDS server serves on.
	XDSAddr string
	// Tokens are the API server's bearer tokens (NodeToken issues a node's).
	Tokens *auth.Tokens
	// NodeName is the node whose agent runs in this process (shoal up with
	// an agent), else "".
	NodeName string
	// NoAgent says why shoal up runs no node agent.
	NoAgent string
	// JoinCommand starts an agent for another node (shoal up only).
	JoinCommand string
	// Endpoints are the etcd client URLs the instance uses.
	Endpoints []string
	done      chan error
}

// Wait blocks until the instance has stopped (its context ended) and
// everything is shut down.
func (in *Instance) Wait() error { return <-in.done }

// Up starts everything on one machine and returns once the API server is
// serving. Everything stops when ctx ends; Wait reports when it has.
func Up(ctx context.Context, cfg Config) (*Instance, error) {
	setDefaults(&cfg)
	log := cfg.Log
	// A bad range fails before anything is locked, started or written.
	serviceIPs, err := registry.NewIPAllocator(nil, cfg.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	agent, err := planAgent(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var cleanup stack
	cleanup.push(unlock)

	endpoints := cfg.EtcdServers
	if len(endpoints) == 0 {
		etcd, err := startEmbeddedEtcd(cfg.DataDir, cfg.EtcdClientAddr, cfg.EtcdPeerAddr)
		if err != nil {
			cleanup.unwind()
			return nil, err
		}
		cleanup.push(etcd.Close)
		endpoints = []string{"http://" + etcd.Clients[0].Addr().String()}
		log.Info("embedded etcd ready", "client_url", endpoints[0], "dir", filepath.Join(cfg.DataDir, "etcd"))
	}
	// Pods' resolv.conf names the cluster DNS service IP: with an agent,
	// the resolver answers there too, on an address of this host.
	clusterDNS := ""
	if agent.run {
		ip := serviceIPs.ClusterDNSIP()
		remove, err := addClusterDNSAddr(ip)
		if err != nil {
			cleanup.unwind()
			return nil, fmt.Errorf("node agent: %w", err)
		}
		cleanup.push(remove)
		clusterDNS = netip.AddrPortFrom(ip, 53).String()
	}
	// The banner waits until DNS (and the agent) serve too.
	cpCfg := cfg
	cpCfg.Out = nil
	// Shutdown is ordered: the agent stops first, while the API server
	// still takes its last writes (pods and node not ready), then the rest.
	outer := ctx
	ctx, cancel := context.WithCancel(context.Background())
	agentCtx, stopAgent := context.WithCancel(context.Background())
	agentStopped := make(chan struct{})
	shutdown := sync.OnceFunc(func() {
		stopAgent()
		go func() { <-agentStopped; cancel() }()
	})
	go func() {
		select {
		case <-outer.Done():
			shutdown()
		case <-ctx.Done():
			stopAgent()
		}
	}()
	in, err := startControlPlane(ctx, cpCfg, endpoints, &cleanup)
	if err != nil {
		close(agentStopped)
		shutdown()
		return nil, err
	}
	if err := startDNS(ctx, shutdown, cfg, in, clusterDNS); err != nil {
		close(agentStopped)
		shutdown()
		in.Wait()
		return nil, err
	}
	if !agent.run {
		close(agentStopped)
		in.NoAgent = agent.why
	} else if err := startAgent(agentCtx, shutdown, agentStopped, cfg, in); err != nil {
		if cfg.Agent == AgentOn {
			shutdown()
			in.Wait()
			return nil, err
		}
		// auto: the rest of the cluster is still useful without pods.
		log.Warn("running without a node agent", "err", err)
		in.NoAgent = err.Error()
	}
	if tok, err := in.Tokens.NodeToken(JoinNodeName); err == nil {
		in.JoinCommand = fmt.Sprintf("shoal agent --server %s --ca-file %s --token %s --name %s --xds %s",
			in.APIURL, absPath(filepath.Join(cfg.DataDir, "pki", "ca.crt")), tok, JoinNodeName, in.XDSAddr)
	}
	in.printBanner(cfg.Out)
	return in, nil
}

func setDefaults(cfg *Config) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.EtcdClientAddr == "" {
		cfg.EtcdClientAddr = DefaultEtcdClientAddr
	}
	if cfg.EtcdPeerAddr == "" {
		cfg.EtcdPeerAddr = DefaultEtcdPeerAddr
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = DefaultServiceCIDR
	}
	if cfg.DNSAddr == "" {
		cfg.DNSAddr = DefaultDNSAddr
	}
	if cfg.XDSAddr == "" {
		cfg.XDSAddr = DefaultXDSAddr
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
