package controller

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// Queue is a controller's work queue: keys ("namespace/name") go in from
// cache events, workers take them out and reconcile them; a failed key is
// retried with exponential back-off, and a key queued again while it is
// being worked on is worked on once more afterwards (client-go's workqueue
// guarantees both).
type Queue struct {
	name      string
	queue     workqueue.TypedRateLimitingInterface[string]
	reconcile func(ctx context.Context, key string) error
	log       *slog.Logger
}

// NewQueue returns the queue of the controller called name (the label of
// its metrics), whose workers call reconcile.
func NewQueue(name string, log *slog.Logger, reconcile func(ctx context.Context, key string) error) *Queue {
	return &Queue{
		name: name,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		reconcile: reconcile,
		log:       log.With("controller", name),
	}
}

// Add queues key.
func (q *Queue) Add(key string) { q.queue.Add(key) }

// AddAfter queues key once d has passed.
func (q *Queue) AddAfter(key string, d time.Duration) { q.queue.AddAfter(key, d) }

// AddObject queues the key of an event's object.
func (q *Queue) AddObject(e store.Event) {
	if e.Object != nil {
		q.Add(Key(e.Object))
	}
}

// ShutDown drops the queued keys of a queue that will not Run (its
// controller's caches never synced).
func (q *Queue) ShutDown() { q.queue.ShutDown() }

// Run starts workers and blocks until ctx ends and every reconcile in
// flight has returned: after a leader change, the successor must not overlap
// with this instance's last writes.
func (q *Queue) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for q.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	q.queue.ShutDown()
	wg.Wait()
}

func (q *Queue) next(ctx context.Context) bool {
	key, quit := q.queue.Get()
	if quit {
		return false
	}
	defer q.queue.Done(key)
	queueDepth.WithLabelValues(q.name).Set(float64(q.queue.Len()))
	start := time.Now()
	err := q.reconcile(ctx, key)
	reconcileSeconds.WithLabelValues(q.name).Observe(time.Since(start).Seconds())
	if err != nil {
		reconciles.WithLabelValues(q.name, "error").Inc()
		if ctx.Err() != nil {
			return false
		}
		q.log.Info("reconcile failed; retrying", "key", key, "err", err, "retries", q.queue.NumRequeues(key))
		q.queue.AddRateLimited(key)
		return true
	}
	reconciles.WithLabelValues(q.name, "success").Inc()
	q.queue.Forget(key)
	return true
}
