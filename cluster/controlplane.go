package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shoalmesh/shoal/controlplane/apiserver"
	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers"
	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/controlplane/rbac"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/scheduler"
	"github.com/shoalmesh/shoal/controlplane/serviceaccount"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// stack runs clean-up functions in reverse order of registration.
type stack []func()

func (s *stack) push(f func()) { *s = append(*s, f) }

func (s *stack) unwind() {
	for i := len(*s) - 1; i >= 0; i-- {
		(*s)[i]()
	}
	*s = nil
}

// ControlPlane runs the control plane alone against an external etcd: the
// API server, controllers (one leader among all replicas) and the registry's
// background work. Any number of replicas may run against one etcd; they
// share the CA and tokens through the same --data-dir contents.
func ControlPlane(ctx context.Context, cfg Config) (*Instance, error) {
	setDefaults(&cfg)
	if len(cfg.EtcdServers) == 0 {
		return nil, errors.New("--etcd-servers is required: the control plane runs against an etcd cluster (use `shoal up` for an embedded one)")
	}
	if _, err := registry.NewIPAllocator(nil, cfg.ServiceCIDR); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	var cleanup stack
	return startControlPlane(ctx, cfg, cfg.EtcdServers, &cleanup)
}

// startControlPlane starts everything that runs on an etcd (embedded or
// not) and returns once the API server is serving. cleanup holds what the
// caller started before; it is unwound when the instance stops or fails.
func startControlPlane(ctx context.Context, cfg Config, endpoints []string, cleanup *stack) (*Instance, error) {
	log := cfg.Log
	fail := func(err error) (*Instance, error) {
		cleanup.unwind()
		return nil, err
	}
	client, err := newEtcdClient(endpoints)
	if err != nil {
		return fail(err)
	}
	cleanup.push(func() { client.Close() })

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fail(fmt.Errorf("api server listen on %s: %w", cfg.APIAddr, err))
	}
	cleanup.push(func() { ln.Close() })
	advertise := advertiseAddr(ln)

	bundle, err := pki.LoadOrCreate(filepath.Join(cfg.DataDir, "pki"), []string{advertise.Addr().String()})
	if err != nil {
		return fail(fmt.Errorf("certificates: %w", err))
	}
	// What the API server shows node agents when it proxies exec, attach,
	// port-forward and logs to them.
	agentClientCert, err := bundle.AgentClientCert(filepath.Join(cfg.DataDir, "pki"))
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
	if err := setUpEncryption(ctx, cfg, st, client); err != nil {
		return fail(err)
	}
	ips, err := registry.NewIPAllocator(client, cfg.ServiceCIDR)
	if err != nil {
		return fail(err)
	}
	reg := registry.New(st, ips, log)
	caches := store.NewCaches(st, log)
	reg.Namespaces = caches.For(registry.Namespaces.Resource)
	reg.ServiceAccountAdmission = &registry.ServiceAccountAdmission{Cache: caches.For(registry.ServiceAccounts.Resource)}
	tokenIssuer, tokenAuthn, err := setUpTokens(cfg, st, caches, log)
	if err != nil {
		return fail(err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	cleanup.push(cancel)
	caches.Start(runCtx)
	bctx, bcancel := context.WithTimeout(ctx, 30*time.Second)
	err = reg.Bootstrap(bctx)
	if err == nil {
		err = rbac.Reconcile(bctx, reg)
	}
	// Made after the policy is written, so that the caches' first list
	// holds it: the API server authorizes from them from its first request.
	authz := rbac.NewForCaches(caches)
	if err == nil {
		err = authz.WaitSynced(bctx)
	}
	bcancel()
	if err != nil {
		return fail(fmt.Errorf("bootstrap: %w", err))
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := controller.RegisterMetrics(metrics); err != nil {
		return fail(fmt.Errorf("controller metrics: %w", err))
	}
	if err := scheduler.RegisterMetrics(metrics); err != nil {
		return fail(fmt.Errorf("scheduler metrics: %w", err))
	}
	if err := serviceaccount.RegisterMetrics(metrics); err != nil {
		return fail(fmt.Errorf("token metrics: %w", err))
	}
	api := apiserver.New(apiserver.Config{
		Registry: reg, Tokens: tokens, RBAC: authz, TLS: bundle.ServerTLSConfig(), Log: log, Metrics: metrics, Caches: caches,
		TokenIssuer: tokenIssuer, TokenAuthenticator: tokenAuthn, PKI: bundle, AgentClientCert: &agentClientCert,
	})
	xdsAddr, xdsDone, err := startXDS(runCtx, cfg, client, leaderID(advertise), caches, metrics)
	if err != nil {
		return fail(err)
	}
	cleanup.push(func() { cancel(); <-xdsDone })
	apiDone := make(chan error, 1)
	go func() { apiDone <- api.Serve(runCtx, ln) }()

	background := make(chan struct{})
	go func() {
		defer close(background)
		events := controller.NewRecorder(reg, "controller-manager", log)
		deps := controller.Deps{Registry: reg, Caches: caches, Events: events, Log: log, RootCA: bundle.CAPEM}
		go events.Run(runCtx)
		go controllers.RunElected(runCtx, client, leaderID(advertise), log, controllers.All(deps)...)
		go controller.RunElection(runCtx, client, scheduler.ElectionKey, leaderID(advertise), log,
			scheduler.New(scheduler.Config{Registry: reg, Caches: caches, Log: log}))
		reg.Run(runCtx, advertise)
	}()
	log.Info("api server serving", "url", apiURL)

	done := make(chan error, 1)
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
		<-background
		cleanup.unwind()
		log.Info("stopped")
		done <- err
	}()
	in := &Instance{APIURL: apiURL, Kubeconfig: kubeconfig, Etcd: client, Registry: reg, Caches: caches, Endpoints: endpoints, XDSAddr: xdsAddr, Tokens: tokens, done: done}
	in.printBanner(cfg.Out)
	return in, nil
}

// printBanner tells the user where everything is; w may be nil.
func (in *Instance) printBanner(w io.Writer) {
	if w == nil {
		return
	}
	dns := ""
	if in.DNSAddr != "" {
		dns = fmt.Sprintf("  DNS:         %s (UDP and TCP)\n", in.DNSAddr)
	}
	node := ""
	switch {
	case in.NodeName != "":
		node = fmt.Sprintf("  Node:        %s (this host runs pods)\n", in.NodeName)
	case in.NoAgent != "":
		node = fmt.Sprintf("  Node agent:  not running (%s)\n", in.NoAgent)
	}
	fmt.Fprintf(w, "Shoal is up.\n  API server:  %s\n%s  xDS:         %s (ADS, LRS)\n%s  etcd:        %v\n  kubeconfig:  %s\n\nUse it with:\n  export KUBECONFIG=%s\n  kubectl get namespaces\n",
		in.APIURL, dns, in.XDSAddr, node, in.Endpoints, in.Kubeconfig, absPath(in.Kubeconfig))
	if in.JoinCommand != "" {
		fmt.Fprintf(w, "\nTo add a node, run on it (as root):\n  %s\n", in.JoinCommand)
	}
}

// advertiseAddr is the address other parts reach this API server at.
func advertiseAddr(ln net.Listener) netip.AddrPort {
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	addr := ap.Addr().Unmap()
	if addr.IsUnspecified() {
		addr = netip.MustParseAddr("127.0.0.1")
	}
	return netip.AddrPortFrom(addr, ap.Port())
}

// leaderID names this replica in leader election.
func leaderID(advertise netip.AddrPort) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s_%s_%d", host, advertise, os.Getpid())
}
