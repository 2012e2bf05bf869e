package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// countingController counts its runs, each of which returns at once, as a
// controller whose caches never sync might.
type countingController struct {
	runs     atomic.Int32
	returned chan struct{} // signalled (without blocking) when Run returns
}

func (c *countingController) Name() string { return "counting" }

func (c *countingController) Run(context.Context) {
	c.runs.Add(1)
	select {
	case c.returned <- struct{}{}:
	default:
	}
}

// leaderKey describes the controllers' election key that leads: its name,
// creation revision and lease. A leader that resigned and won again has
// another.
func leaderKey(t *testing.T, ctx context.Context, client *clientv3.Client) string {
	t.Helper()
	resp, err := client.Get(ctx, electionPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "none"
	}
	kv := resp.Kvs[0]
	return fmt.Sprintf("%s created at %d, lease %x", kv.Key, kv.CreateRevision, kv.Lease)
}

// A leader whose controllers all return early keeps the lead instead of
// resigning and campaigning in a loop.
func TestRunElectedHoldsTheLeadWhenControllersReturn(t *testing.T) {
	e := storetest.StartEtcd(t)
	client := e.Client(t)
	ctx, cancel := context.WithCancel(t.Context())
	c := &countingController{returned: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() { RunElected(ctx, client, "a", slog.New(slog.DiscardHandler), c); close(done) }()
	select {
	case <-c.returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the controllers did not run within 10 s")
	}
	held := leaderKey(t, ctx, client)

	// Nothing is to happen now, so no event can end the wait. A replica that
	// let go of the lead would do so at once: resign (one etcd delete), then
	// a new session and campaign (a lease grant, a put and a get) on an etcd
	// on loopback. With the hold removed, that cycle ran 42 times in these
	// 300 ms (about 7 ms each), so the wait sees dozens; and a resignation
	// merely begun by then shows as a new leader key even if the controllers
	// have not run again yet.
	time.Sleep(300 * time.Millisecond)
	if n := c.runs.Load(); n != 1 {
		t.Fatalf("controllers ran %d times while the lead was held; want 1", n)
	}
	if now := leaderKey(t, ctx, client); now != held {
		t.Fatalf("leader key %s became %s: the lead was dropped and won again", held, now)
	}
	if id, err := Leader(ctx, client); err != nil || id != "a" {
		t.Fatalf("leader = %q, %v; want a", id, err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunElected did not return after its context ended")
	}
}
