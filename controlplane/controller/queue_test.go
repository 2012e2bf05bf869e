package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// A failed key is retried until it succeeds; a key added while it is being
// reconciled is reconciled again afterwards, never by two workers at once.
func TestQueueRetriesAndSerializesAKey(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu       sync.Mutex
		calls    int
		inFlight bool
		overlap  bool
	)
	done := make(chan struct{})
	var q *Queue
	q = NewQueue("test-queue", slog.New(slog.DiscardHandler), func(ctx context.Context, key string) error {
		mu.Lock()
		if inFlight {
			overlap = true
		}
		inFlight = true
		calls++
		n := calls
		mu.Unlock()
		defer func() { mu.Lock(); inFlight = false; mu.Unlock() }()
		switch n {
		case 1, 2:
			return errors.New("not yet")
		case 3:
			q.Add(key) // again while in flight: a fourth call must follow
			return nil
		case 4:
			close(done)
		}
		return nil
	})
	stopped := make(chan struct{})
	go func() { q.Run(ctx, 4); close(stopped) }()
	q.Add("default/web")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("reconciled %d times in 10 s; want 2 failures, a success and the re-added key", calls)
	}
	cancel()
	<-stopped
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("two workers reconciled the same key at once")
	}
	if calls != 4 {
		t.Errorf("reconciled %d times; want 4", calls)
	}
}
