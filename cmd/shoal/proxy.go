package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoalmesh/shoal/proxy"
	"github.com/shoalmesh/shoal/proxy/balancer"
)

// runProxy runs `shoal proxy`: the node proxy alone (as a sidecar, or on a
// machine whose agent runs elsewhere), configured over xDS.
func runProxy(args []string) error {
	fs := flag.NewFlagSet("shoal proxy", flag.ExitOnError)
	xds := fs.String("xds", "127.0.0.1:18000", "the control plane's xDS address")
	nodeID := fs.String("node-id", "", "this proxy's xDS node id (default: proxy-<host name>)")
	roundRobin := fs.Bool("round-robin", false, "balance round robin instead of least request (for comparison)")
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
	mode := balancer.LeastRequest
	if *roundRobin {
		mode = balancer.RoundRobin
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return proxy.New(proxy.Config{XDSAddr: *xds, NodeID: *nodeID, Mode: mode, Logger: log}).Run(ctx)
}
