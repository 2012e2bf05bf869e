package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/xds/feed"
	"github.com/shoalmesh/shoal/xds/load"
	"github.com/shoalmesh/shoal/xds/loadsync"
	"github.com/shoalmesh/shoal/xds/lrs"
	"github.com/shoalmesh/shoal/xds/podcpu"
	"github.com/shoalmesh/shoal/xds/server"
)

// xdsStopGrace bounds how long a stopping xDS server waits for streams,
// which never end on their own.
const xdsStopGrace = time.Second

// startXDS listens on cfg.XDSAddr and serves the translation of caches
// until ctx ends; the returned channel closes when it has stopped.
func startXDS(ctx context.Context, cfg Config, client *clientv3.Client, replica string, caches *store.Caches, metrics prometheus.Registerer) (addr string, done <-chan struct{}, err error) {
	log := cfg.Log
	if err := server.RegisterMetrics(metrics); err != nil {
		return "", nil, fmt.Errorf("xds metrics: %w", err)
	}
	if err := feed.RegisterMetrics(metrics); err != nil {
		return "", nil, fmt.Errorf("xds metrics: %w", err)
	}
	if err := lrs.RegisterMetrics(metrics); err != nil {
		return "", nil, fmt.Errorf("xds metrics: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.XDSAddr)
	if err != nil {
		return "", nil, fmt.Errorf("xds listen on %s: %w", cfg.XDSAddr, err)
	}
	srv := server.New(ctx, server.Options{Logger: log})
	srv.SetServing(false)
	// Clients report their load here (lrs_server: self in every Cluster);
	// replicas share the reports through etcd and one of them turns them
	// into endpoint weights once a second, which every replica serves.
	table := load.NewTable()
	lrs.New(table, lrs.Options{Logger: log}).Register(srv.GRPC())
	weights := loadsync.New(loadsync.Config{
		Client: client, Replica: replica, Table: table, Weigher: load.NewWeigher(load.Options{}), Logger: log,
	})
	f := feed.New(feed.Config{
		Services:       caches.For(api.Services.Resource),
		EndpointSlices: caches.For(api.EndpointSlices.Resource),
		Sink:           srv,
		Weigher:        weights,
		Logger:         log,
		OnSynced:       func() { srv.SetServing(true) },
	})
	stopped := make(chan struct{})
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("xds server stopped", "err", err)
		}
	}()
	feedDone := make(chan struct{})
	go func() { defer close(feedDone); f.Run(ctx) }()
	syncDone := make(chan struct{})
	go func() { defer close(syncDone); weights.Run(ctx) }()
	// Node agents' per-pod CPU joins the LRS reports in the table.
	cpuDone := make(chan struct{})
	go func() {
		defer close(cpuDone)
		podcpu.Run(ctx, caches.For(api.Leases.Resource), caches.For(api.Pods.Resource), table)
	}()
	go func() {
		defer close(stopped)
		<-ctx.Done()
		srv.Stop(xdsStopGrace)
		<-serveDone
		<-feedDone
		<-syncDone
		<-cpuDone
	}()
	return ln.Addr().String(), stopped, nil
}
