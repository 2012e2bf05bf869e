package controller

import (
	"context"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// LeaseTTL is how long a dead leader keeps the lead: another replica takes
// over within about this many seconds.
const LeaseTTL = 5

// RunElection campaigns with id in the election at key (an etcd key prefix
// such as /shoal/leader/scheduler) and, while leader, runs controllers: one
// leader among the replicas campaigning at key runs them. It steps down when
// its etcd session ends (the leader is cut off or dies) and campaigns again,
// until ctx ends.
func RunElection(ctx context.Context, client *clientv3.Client, key, id string, log *slog.Logger, controllers ...Controller) {
	log = log.With("component", "controllers", "election", key, "id", id)
	for ctx.Err() == nil {
		sess, err := concurrency.NewSession(client, concurrency.WithTTL(LeaseTTL), concurrency.WithContext(ctx))
		if err != nil {
			log.Warn("leader election session", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		election := concurrency.NewElection(sess, key)
		if err := campaign(ctx, election, id); err != nil {
			sess.Close()
			if ctx.Err() == nil {
				log.Warn("leader election campaign", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		log.Info("became leader; starting controllers")
		lead, stop := context.WithCancel(ctx)
		go func() {
			select {
			case <-sess.Done():
				log.Warn("lost the leader lease; stopping controllers")
			case <-lead.Done():
			}
			stop()
		}()
		Run(lead, controllers...)
		// Hold the lead until it is lost or ctx ends, even if every
		// controller returned early: resigning and campaigning again at once
		// would spin.
		<-lead.Done()
		// Resign so a successor need not wait for the lease to expire.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		election.Resign(rctx)
		cancel()
		sess.Close()
	}
}

// campaign is election.Campaign, but returns as soon as ctx ends. When its
// context ends, Campaign resigns with the client's own context, which waits
// for etcd for ever if etcd is away — a replica could then not shut down
// until etcd came back. That resignation is left to finish (or to fail
// when the client is closed) on its own.
func campaign(ctx context.Context, election *concurrency.Election, id string) error {
	done := make(chan error, 1)
	go func() { done <- election.Campaign(ctx, id) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LeaderOf returns the id of the current leader of the election at key, or
// "" if there is none.
func LeaderOf(ctx context.Context, client *clientv3.Client, key string) (string, error) {
	resp, err := client.Get(ctx, key+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return "", err
	}
	return string(resp.Kvs[0].Value), nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
