package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/shoalmesh/shoal/controlplane/apiserver"
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
	// EtcdServers, if set, are the client URLs of an external etcd cluster;
	// otherwise an embedded etcd runs on EtcdClientAddr and EtcdPeerAddr.
	EtcdServers    []string
	EtcdClientAddr string
	EtcdPeerAddr   string
	ServiceCIDR    string
	Log            *slog.Logger
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
)

// Instance is a started Shoal process.
type Instance struct {
	// APIURL is the API server's https URL; Kubeconfig the admin kubeconfig.
	APIURL     string
	Kubeconfig string
	Etcd       *clientv3.Client
	Registry   *registry.Registry
	done       chan error
}

// Wait blocks until the instance has stopped (its context ended) and
// everything is shut down.
func (in *Instance) Wait() error { return <-in.done }

// Up starts everything on one machine and returns once the API server is
// serving. Everything stops when ctx ends; Wait reports when it has.
func Up(ctx context.Context, cfg Config) (*Instance, error) {
	setDefaults(&cfg)
	log := cfg.Log
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var cleanup []func()
	fail := func(err error) (*Instance, error) {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		unlock()
		return nil, err
	}

	endpoints := cfg.EtcdServers
	var etcd *embed.Etcd
	if len(endpoints) == 0 {
		if etcd, err = startEmbeddedEtcd(cfg.DataDir, cfg.EtcdClientAddr, cfg.EtcdPeerAddr); err != nil {
			return fail(err)
		}
		cleanup = append(cleanup, etcd.Close)
		endpoints = []string{"http://" + etcd.Clients[0].Addr().String()}
		log.Info("embedded etcd ready", "client_url", endpoints[0], "dir", filepath.Join(cfg.DataDir, "etcd"))
	}
	client, err := newEtcdClient(endpoints)
	if err != nil {
		return fail(err)
	}
	cleanup = append(cleanup, func() { client.Close() })

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fail(fmt.Errorf("api server listen on %s: %w", cfg.APIAddr, err))
	}
	cleanup = append(cleanup, func() { ln.Close() })
	apiAddr := ln.Addr().(*net.TCPAddr).AddrPort()
	advertise := netip.AddrPortFrom(apiAddr.Addr().Unmap(), apiAddr.Port())
	if advertise.Addr().IsUnspecified() {
		advertise = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), apiAddr.Port())
	}

	bundle, err := pki.LoadOrCreate(filepath.Join(cfg.DataDir, "pki"), []string{advertise.Addr().String()})
	if err != nil {
		return fail(fmt.Errorf("certificates: %w", err))
	}
	tokens, err := auth.LoadOrCreateTokens(filepath.Join(cfg.DataDir, "tokens.csv"))
	if err != nil {
		return fail(fmt.Errorf("tokens: %w", err))
	}
	apiURL := "https://" + advertise.String()
	kubeconfig := filepath.Join(cfg.DataDir, "kubeconfig")
	if err := auth.WriteKubeconfig(kubeconfig, apiURL, bundle.CAPEM, "admin", tokens.Admin()); err != nil {
		return fail(fmt.Errorf("write kubeconfig: %w", err))
	}

	st := store.New(client)
	ips, err := registry.NewIPAllocator(client, cfg.ServiceCIDR)
	if err != nil {
		return fail(err)
	}
	reg := registry.New(st, ips, log)

	runCtx, cancel := context.WithCancel(context.Background())
	namespaces := store.NewCache(st, registry.Namespaces.Resource, log)
	go namespaces.Run(runCtx)
	reg.Namespaces = namespaces
	bctx, bcancel := context.WithTimeout(ctx, 30*time.Second)
	err = reg.Bootstrap(bctx)
	bcancel()
	if err != nil {
		cancel()
		return fail(fmt.Errorf("bootstrap: %w", err))
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := apiserver.New(apiserver.Config{
		Registry: reg, Tokens: tokens, TLS: bundle.ServerTLSConfig(), Log: log, Metrics: metrics,
	})

	done := make(chan error, 1)
	apiDone := make(chan error, 1)
	go func() { apiDone <- api.Serve(runCtx, ln) }()
	regDone := make(chan struct{})
	go func() { reg.Run(runCtx, advertise); close(regDone) }()

	log.Info("api server serving", "url", apiURL)
	if cfg.Out != nil {
		fmt.Fprintf(cfg.Out, "Shoal is up.\n  API server:  %s\n  etcd:        %v\n  kubeconfig:  %s\n\nUse it with:\n  export KUBECONFIG=%s\n  kubectl get namespaces\n",
			apiURL, endpoints, kubeconfig, absPath(kubeconfig))
	}
	go func() {
		var err error
		select {
		case <-ctx.Done():
		case err = <-apiDone:
			err = fmt.Errorf("api server: %w", err)
		}
		log.Info("shutting down")
		cancel()
		if e := <-apiDone; err == nil && e != nil && !errors.Is(e, net.ErrClosed) {
			err = e
		}
		<-regDone
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		unlock()
		log.Info("stopped")
		done <- err
	}()
	return &Instance{APIURL: apiURL, Kubeconfig: kubeconfig, Etcd: client, Registry: reg, done: done}, nil
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
