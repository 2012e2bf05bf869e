package controllers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Deps is what every controller is built from.
type Deps struct {
	Registry *registry.Registry
	Caches   *store.Caches
	Events   *Recorder
	Log      *slog.Logger
	// NodeGracePeriod is how long a node's Lease may go unrenewed before the
	// node is NotReady; 0 is DefaultNodeGracePeriod.
	NodeGracePeriod time.Duration
	// PodEvictionDelay is how long pods stay on a NotReady node (or one that
	// was deleted) before they are deleted; 0 is DefaultPodEvictionDelay.
	PodEvictionDelay time.Duration
}

// logger is d.Log, or a discarding logger when there is none.
func (d Deps) logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Controller is one control loop.
type Controller interface {
	Name() string
	// Run reconciles until ctx ends. It waits for its caches to sync first.
	Run(ctx context.Context)
}

// loop is a controller's work queue: keys ("namespace/name") go in from
// cache events, workers take them out and reconcile them; a failed key is
// retried with exponential back-off, and a key queued again while it is
// being worked on is worked on once more afterwards (client-go's workqueue
// guarantees both).
type loop struct {
	name      string
	queue     workqueue.TypedRateLimitingInterface[string]
	reconcile func(ctx context.Context, key string) error
	log       *slog.Logger
}

func newLoop(name string, log *slog.Logger, reconcile func(ctx context.Context, key string) error) *loop {
	return &loop{
		name: name,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		reconcile: reconcile,
		log:       log.With("controller", name),
	}
}

func (l *loop) enqueue(key string) { l.queue.Add(key) }

func (l *loop) enqueueAfter(key string, d time.Duration) { l.queue.AddAfter(key, d) }

// enqueueObject queues the key of an event's object.
func (l *loop) enqueueObject(e store.Event) {
	if e.Object != nil {
		l.enqueue(Key(e.Object))
	}
}

// run starts workers and blocks until ctx ends and every reconcile in
// flight has returned: after a leader change, the successor must not overlap
// with this instance's last writes.
func (l *loop) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for l.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	l.queue.ShutDown()
	wg.Wait()
}

func (l *loop) next(ctx context.Context) bool {
	key, quit := l.queue.Get()
	if quit {
		return false
	}
	defer l.queue.Done(key)
	queueDepth.WithLabelValues(l.name).Set(float64(l.queue.Len()))
	start := time.Now()
	err := l.reconcile(ctx, key)
	reconcileSeconds.WithLabelValues(l.name).Observe(time.Since(start).Seconds())
	if err != nil {
		reconciles.WithLabelValues(l.name, "error").Inc()
		if ctx.Err() != nil {
			return false
		}
		l.log.Info("reconcile failed; retrying", "key", key, "err", err, "retries", l.queue.NumRequeues(key))
		l.queue.AddRateLimited(key)
		return true
	}
	reconciles.WithLabelValues(l.name, "success").Inc()
	l.queue.Forget(key)
	return true
}

// Key is an object's queue key.
func Key(o store.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// SplitKey is the inverse of Key.
func SplitKey(key string) (namespace, name string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

// isChange reports whether a cache event is a real change (not the Relisted
// marker, whose diff events came before it).
func isChange(e store.Event) bool { return e.Type != store.Relisted && e.Type != watch.Bookmark }
