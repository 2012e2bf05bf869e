package controllers

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

type countingController struct{ runs atomic.Int32 }

func (c *countingController) Name() string { return "counting" }

// Run returns at once, as a controller whose caches never sync might.
func (c *countingController) Run(context.Context) { c.runs.Add(1) }

// A leader whose controllers all return early keeps the lead instead of
// resigning and campaigning in a loop.
func TestRunElectedHoldsTheLeadWhenControllersReturn(t *testing.T) {
	e := storetest.StartEtcd(t)
	client := e.Client(t)
	ctx, cancel := context.WithCancel(t.Context())
	c := &countingController{}
	done := make(chan struct{})
	go func() { RunElected(ctx, client, "a", slog.New(slog.DiscardHandler), c); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for c.runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := c.runs.Load(); n != 1 {
		t.Fatalf("controllers ran %d times while the lead was held; want 1", n)
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
