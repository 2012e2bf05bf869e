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
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/pki"
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
	// AdvertiseAddress is the IP other machines reach this server at (its
	// API in the `kubernetes` endpoints and the join commands, its etcd
	// member); "" is the API's listen address, or the node IP when the API
	// listens on every address.
	AdvertiseAddress string
	// EtcdServers, if set, are the client URLs of an external etcd cluster,
	// reached with EtcdCAFile, EtcdCertFile and EtcdKeyFile over https;
	// otherwise an embedded etcd member runs on EtcdClientAddr and
	// EtcdPeerAddr ("": ports 2379 and 2380, see planMember).
	EtcdServers                           []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	EtcdClientAddr                        string
	EtcdPeerAddr                          string
	// Join is the API URL of a server of the cluster this one joins
	// (`shoal up --join`), Token the cluster's server token.
	Join, Token string
	ServiceCIDR string
	// ServerLeaseTTL is how long a dead server stays in the `kubernetes`
	// and `kube-dns` endpoints (registry.DefaultServerLeaseTTL if zero).
	ServerLeaseTTL time.Duration
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

	// FailureDetection times the node lifecycle: Lease renewals, the grace
	// period before NotReady, the eviction timeout.
	FailureDetection
}

// Defaults as DESIGN.md gives them.
const (
	DefaultDataDir        = "./shoal-data"
	DefaultAPIAddr        = "127.0.0.1:6443"
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
	// DNSAddr is the address the resolver serves on (shoal up only);
	// DNSAdvertise the one it is in the `kube-dns` endpoints at (invalid
	// when it is not: a --dns-conf Corefile).
	DNSAddr      string
	DNSAdvertise netip.AddrPort
	// XDSAddr is the address the xDS server serves on; XDSAdvertise the
	// one other machines reach it at.
	XDSAddr, XDSAdvertise string
	// Tokens are the API server's bearer tokens (NodeToken issues a node's).
	Tokens *auth.Tokens
	// NodeName is the node whose agent runs in this process (shoal up with
	// an agent), else "".
	NodeName string
	// NoAgent says why shoal up runs no node agent.
	NoAgent string
	// JoinCommand starts an agent for another node (shoal up only).
	JoinCommand string
	// ServerName names this server (its etcd member); ServerToken lets
	// another server join (`shoal up --join APIURL --token ServerToken`):
	// both only with an embedded etcd.
	ServerName, ServerToken string
	serverTokenFile         string
	// Endpoints are the etcd client URLs the instance uses; EtcdFiles, with
	// an embedded etcd, the etcd CA and the client certificate other
	// processes (shoal dns) reach it with.
	Endpoints []string
	EtcdFiles pki.EtcdFiles
	// Advertise is the address other machines reach the API server at.
	Advertise netip.AddrPort
	done      chan error
	waitOnce  sync.Once
	waitErr   error
	// DashboardURL is the dashboard's; DashboardLogin a one-time link that
	// logs a browser into it as admin (empty if none could be made).
	DashboardURL, DashboardLogin string
}

// Wait blocks until the instance has stopped (its context ended, or it
// failed) and everything is shut down, and says why it stopped.
func (in *Instance) Wait() error {
	in.waitOnce.Do(func() { in.waitErr = <-in.done })
	return in.waitErr
}

// Up starts everything on one machine and returns once the API server is
// serving. Everything stops when ctx ends; Wait reports when it has.
func Up(ctx context.Context, cfg Config) (*Instance, error) {
	setDefaults(&cfg)
	log := cfg.Log
	if err := cfg.FailureDetection.check(); err != nil {
		return nil, err
	}
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

	ip, err := advertiseIP(cfg)
	if err != nil {
		cleanup.unwind()
		return nil, err
	}
	var conn etcdConn
	if len(cfg.EtcdServers) == 0 {
		conn, err = startEmbedded(ctx, cfg, ip, &cleanup)
	} else {
		conn, err = connectExternal(cfg, &cleanup)
	}
	if err != nil {
		cleanup.unwind()
		return nil, err
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
	in, err := startControlPlane(ctx, cpCfg, conn, ip, &cleanup)
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
			in.APIURL, absPath(filepath.Join(cfg.DataDir, "pki", "ca.crt")), tok, JoinNodeName, in.XDSAdvertise)
	}
	if conn.member != nil {
		in.watchMember(ctx, shutdown, conn.member, conn.plan)
	}
	if conn.serving != nil {
		conn.serving.Store(true)
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
