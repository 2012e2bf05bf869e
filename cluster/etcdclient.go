package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// NoLeaderWait is how long an etcd call waits for the cluster to elect a
// leader before it fails: longer than an election among live members
// (about a second), short enough that without a quorum a write fails
// quickly (503, "etcd has no leader") instead of hanging.
const NoLeaderWait = 3 * time.Second

// newEtcdClient is the process's one etcd client. Its calls ask for a
// leader: a member without one (no quorum) answers at once, and the call
// is tried again for up to NoLeaderWait, then fails.
func newEtcdClient(endpoints []string, tc *tls.Config) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		TLS:         tc,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		// Fail fast on a dead member and try another.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		// The client retries reads that meet an unavailable member; a few
		// tries find another endpoint, and NoLeaderWait bounds the rest.
		MaxUnaryRetries: 10,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	c.KV = leaderKV{c.KV}
	return c, nil
}

// leaderKV requires a leader for every call and retries those that found
// none: such a call was never proposed, so a write is not applied twice.
// Calls it does not wrap (streams) go to the embedded KV as they are.
type leaderKV struct{ clientv3.KV }

var _ clientv3.KV = leaderKV{}

func (l leaderKV) Put(ctx context.Context, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error) {
	return withLeader(ctx, func(ctx context.Context) (*clientv3.PutResponse, error) { return l.KV.Put(ctx, key, val, opts...) })
}

func (l leaderKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	return withLeader(ctx, func(ctx context.Context) (*clientv3.GetResponse, error) { return l.KV.Get(ctx, key, opts...) })
}

func (l leaderKV) Delete(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.DeleteResponse, error) {
	return withLeader(ctx, func(ctx context.Context) (*clientv3.DeleteResponse, error) { return l.KV.Delete(ctx, key, opts...) })
}

func (l leaderKV) Compact(ctx context.Context, rev int64, opts ...clientv3.CompactOption) (*clientv3.CompactResponse, error) {
	return withLeader(ctx, func(ctx context.Context) (*clientv3.CompactResponse, error) { return l.KV.Compact(ctx, rev, opts...) })
}

func (l leaderKV) Do(ctx context.Context, op clientv3.Op) (clientv3.OpResponse, error) {
	return withLeader(ctx, func(ctx context.Context) (clientv3.OpResponse, error) { return l.KV.Do(ctx, op) })
}

func (l leaderKV) Txn(ctx context.Context) clientv3.Txn { return &leaderTxn{kv: l.KV, ctx: ctx} }

// leaderTxn records a transaction and commits it through withLeader.
type leaderTxn struct {
	kv             clientv3.KV
	ctx            context.Context
	cmps           []clientv3.Cmp
	thenOps, elses []clientv3.Op
}

func (t *leaderTxn) If(cs ...clientv3.Cmp) clientv3.Txn { t.cmps = append(t.cmps, cs...); return t }
func (t *leaderTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	t.thenOps = append(t.thenOps, ops...)
	return t
}
func (t *leaderTxn) Else(ops ...clientv3.Op) clientv3.Txn {
	t.elses = append(t.elses, ops...)
	return t
}

func (t *leaderTxn) Commit() (*clientv3.TxnResponse, error) {
	return withLeader(t.ctx, func(ctx context.Context) (*clientv3.TxnResponse, error) {
		return t.kv.Txn(ctx).If(t.cmps...).Then(t.thenOps...).Else(t.elses...).Commit()
	})
}

// withLeader runs call with a leader required, again while the member has
// none, for up to NoLeaderWait.
func withLeader[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	ctx = clientv3.WithRequireLeader(ctx)
	deadline := time.Now().Add(NoLeaderWait)
	for {
		r, err := call(ctx)
		if errors.Is(err, rpctypes.ErrTimeout) {
			// The call was proposed and not committed within etcd's request
			// timeout: the leader died, or lost its quorum, just before (a
			// leader without a quorum steps down within an election
			// timeout; later calls find no leader).
			return r, fmt.Errorf("%w: etcd did not commit it in time (its leader died or lost the quorum); it may or may not have been applied", err)
		}
		if !errors.Is(err, rpctypes.ErrNoLeader) {
			return r, err
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%w for %v: fewer than a quorum of the etcd members are up and reachable", err, NoLeaderWait)
		}
		select {
		case <-ctx.Done():
			return r, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
