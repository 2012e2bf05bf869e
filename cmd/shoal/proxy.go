package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/proxy"
)

// runProxy runs `shoal proxy`: the node proxy alone (as a sidecar, or on a
// machine whose agent runs elsewhere), configured over xDS.
func runProxy(args []string) error {
	fs := flag.NewFlagSet("shoal proxy", flag.ExitOnError)
	xds := fs.String("xds", "127.0.0.1:18000", "the control plane's xDS address")
	nodeID := fs.String("node-id", "", "this proxy's xDS node id (default: proxy-<host name>)")
	roundRobin := fs.Bool("round-robin", false, "balance every service round robin, whatever its policy (for comparison)")
	adminAddr := fs.String("admin-addr", cluster.DefaultProxyAdminAddr, "the admin endpoint (config dump, endpoints, metrics, readiness); empty: none")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	if *nodeID == "" {
		h, err := os.Hostname()
		if err != nil {
			return errors.New("--node-id is required when the host has no name")
		}
		*nodeID = "proxy-" + h
	}
	// The proxy's live heap is small and its garbage per request steady:
	// at the default GOGC the collector runs all the time (a sixth of the
	// CPU under load). GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	balance := proxy.FollowCluster
	if *roundRobin {
		balance = proxy.ForceRoundRobin
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	px := proxy.New(proxy.Config{XDSAddr: *xds, NodeID: *nodeID, Balance: balance, AdminAddr: *adminAddr, Logger: log})
	if err := px.RegisterMetrics(prometheus.DefaultRegisterer); err != nil {
		return err
	}
	return px.Run(ctx)
}
