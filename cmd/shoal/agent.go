package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/internal/failover"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/proxy"
)

// runAgent runs `shoal agent`: a node agent joining the cluster at --server.
func runAgent(args []string) error {
	fs := flag.NewFlagSet("shoal agent", flag.ExitOnError)
	server := fs.String("server", "", "the API servers' URLs, https://host:port, comma-separated (required): the agent uses one and fails over to the next, and to every API server the `kubernetes` endpoints list")
	token := fs.String("token", "", "this node's bearer token (required; `shoal up` prints a join command with one)")
	caFile := fs.String("ca-file", "", "the cluster CA certificate (<data-dir>/pki/ca.crt of the control plane)")
	name := fs.String("name", "", "the node's name (default: the host name)")
	nodeIP := fs.String("node-ip", "", "the node's InternalIP (default: the address of the default route's interface)")
	dataDir := fs.String("data-dir", "./shoal-agent", "containerd's config, images and state, pod volumes and logs, the pod network's state; image archives in <data-dir>/images are imported at start")
	endpoint := fs.String("container-runtime-endpoint", "", "use this CRI runtime (unix:///run/containerd/containerd.sock) instead of starting a containerd of the agent's own")
	registriesFile := fs.String("registries", "", "registries.yaml (k3s's format) of registry mirrors and TLS settings for the agent's containerd")
	logAddr := fs.String("log-addr", "", "the node server's address: HTTPS for the API server's exec, attach, port-forward and logs, and /healthz, /metrics (default <node-ip>:10250)")
	keepPods := fs.Bool("keep-pods", false, "leave pods running when the agent stops, for the next agent to adopt")
	xds := fs.String("xds", "", "the control plane's xDS addresses, host:port, comma-separated: run the node proxy (service VIPs on this node) configured from them (one at a time, the next when it fails)")
	adminAddr := fs.String("proxy-admin-addr", cluster.DefaultProxyAdminAddr, "the node proxy's admin endpoint; empty: none")
	var renew time.Duration
	addRenewFlag(fs, &renew)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)
	if *server == "" || *token == "" {
		return errors.New("--server and --token are required")
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	servers, err := failover.New(strings.Split(*server, ","), log)
	if err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	rc := &rest.Config{Host: servers.Current(), WrapTransport: servers.Wrap, BearerToken: *token, TLSClientConfig: rest.TLSClientConfig{CAFile: *caFile}}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := learnServers(ctx, servers, rc, log); err != nil {
		return err
	}
	registries, err := cluster.LoadRegistries(*registriesFile)
	if err != nil {
		return err
	}
	// One registry: the agent's /metrics serves the proxy's too.
	metrics := prometheus.NewRegistry()
	cfg := nodeagent.Config{
		REST:            rc,
		NodeName:        *name,
		DataDir:         *dataDir,
		RuntimeEndpoint: *endpoint,
		Registries:      registries,
		LogAddr:         *logAddr,
		KeepPodsOnStop:  *keepPods,
		Metrics:         metrics,
		Logger:          log,

		LeaseRenewInterval: renew,
	}
	if *nodeIP != "" {
		if cfg.NodeIP, err = netip.ParseAddr(*nodeIP); err != nil {
			return errors.New("--node-ip: " + err.Error())
		}
	}
	a, err := nodeagent.New(cfg)
	if err != nil {
		return err
	}
	if *xds == "" {
		return a.Run(ctx)
	}
	nodeName := cfg.NodeName
	if nodeName == "" {
		nodeName, _ = os.Hostname()
	}
	px := proxy.New(proxy.Config{XDSAddr: *xds, NodeID: "proxy-" + strings.ToLower(nodeName), AdminAddr: *adminAddr, Metrics: metrics, Logger: log})
	if err := px.RegisterMetrics(metrics); err != nil {
		return err
	}
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- px.Run(ctx) }()
	err = a.Run(ctx)
	stop() // an agent that failed takes its proxy with it
	return errors.Join(err, <-proxyDone)
}

// learnServers adds the live API servers (the `kubernetes` endpoints) to
// servers now and keeps them current; an API that cannot tell them now is
// not an error: the agent starts with the servers it was given.
func learnServers(ctx context.Context, servers *failover.Servers, rc *rest.Config, log *slog.Logger) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	if err := servers.Learn(ctx, cs); err != nil {
		log.Warn("starting with the API servers given", "servers", servers.Hosts(), "err", err)
	}
	go servers.Run(ctx, cs, time.Minute)
	return nil
}
