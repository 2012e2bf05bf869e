package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

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
	Log     *slog.Logger
	// Out receives the start-up banner (how to use kubectl); nil discards it.
	Out io.Writer
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
	if _, err := registry.NewIPAllocator(nil, cfg.ServiceCIDR); err != nil {
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
	// The banner waits until DNS serves too.
	cpCfg := cfg
	cpCfg.Out = nil
	ctx, cancel := context.WithCancel(ctx)
	in, err := startControlPlane(ctx, cpCfg, endpoints, &cleanup)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := startDNS(ctx, cancel, cfg, in); err != nil {
		cancel()
		in.Wait()
		return nil, err
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
