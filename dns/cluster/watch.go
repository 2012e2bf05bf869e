package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// writer owns the builder: cache handlers queue events and wake it; it
// applies everything queued, builds and publishes, and sleeps again. Events
// that arrive while it builds are taken together in the next round, so a
// burst of changes costs a few rounds, not one per change.
type writer struct {
	c    *Cluster
	b    *builder
	wake chan struct{}

	mu      sync.Mutex
	pending [numFeeds][]store.Event
	since   time.Time // when the oldest pending event arrived
}

// Start subscribes to feeds and keeps the answers current until ctx ends or
// Stop is called; call it once. Queries are answered SERVFAIL until every
// feed has synced.
func (c *Cluster) Start(ctx context.Context, feeds Feeds) {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{c: c, b: newBuilder(c), wake: make(chan struct{}, 1)}
	byFeed := [numFeeds]Feed{feedServices: feeds.Services, feedEndpointSlices: feeds.EndpointSlices,
		feedNamespaces: feeds.Namespaces, feedPods: feeds.Pods}
	var synced []<-chan struct{}
	var unsubscribe []func()
	done := make(chan struct{})
	c.mu.Lock()
	c.stop, c.done = cancel, done
	for i, f := range byFeed {
		c.reads[i] = f != nil
	}
	c.mu.Unlock()
	for i, f := range byFeed {
		if f == nil {
			continue
		}
		unsubscribe = append(unsubscribe, f.Subscribe(w.handler(i)))
		synced = append(synced, f.Synced())
	}
	go func() {
		defer close(done)
		defer func() {
			for _, u := range unsubscribe {
				u()
			}
		}()
		w.run(ctx, synced)
	}()
}

// Stop stops what Start started and waits for it.
func (c *Cluster) Stop() {
	c.mu.Lock()
	stop, done := c.stop, c.done
	c.stop = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

func (w *writer) handler(feed int) store.Handler {
	return func(e store.Event) {
		w.mu.Lock()
		if w.since.IsZero() {
			w.since = time.Now()
		}
		w.pending[feed] = append(w.pending[feed], e)
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *writer) run(ctx context.Context, synced []<-chan struct{}) {
	for _, s := range synced {
		select {
		case <-s:
		case <-ctx.Done():
			return
		}
	}
	w.c.log.Info("registry synced; answering")
	for {
		w.round()
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
	}
}

// round applies every queued event and publishes the result.
func (w *writer) round() {
	w.mu.Lock()
	pending, since := w.pending, w.since
	w.pending, w.since = [numFeeds][]store.Event{}, time.Time{}
	w.mu.Unlock()
	start := time.Now()
	for feed, events := range pending {
		for _, e := range events {
			w.b.apply(feed, e)
		}
	}
	idx := w.b.build()
	if idx == w.c.index.Load() {
		return
	}
	w.c.publish(idx)
	observeRebuild(idx, start, since)
}

func (c *Cluster) publish(idx *index) {
	c.index.Store(idx)
	c.mu.Lock()
	close(c.published)
	c.published = make(chan struct{})
	c.mu.Unlock()
}

// WaitForRevision waits until the answers include every change to res (one
// of the resources the plugin reads: api.Services, EndpointSlices,
// Namespaces or Pods) up to etcd revision rev, the resourceVersion a write
// returned. Tests use it instead of polling.
func (c *Cluster) WaitForRevision(ctx context.Context, res *api.Resource, rev int64) error {
	feed := -1
	switch res {
	case api.Services.Resource:
		feed = feedServices
	case api.EndpointSlices.Resource:
		feed = feedEndpointSlices
	case api.Namespaces.Resource:
		feed = feedNamespaces
	case api.Pods.Resource:
		feed = feedPods
	}
	c.mu.Lock()
	reads := feed >= 0 && c.reads[feed]
	c.mu.Unlock()
	if !reads {
		return fmt.Errorf("wait for %s: not a resource this cluster plugin reads", res.Name)
	}
	for {
		c.mu.Lock()
		ch := c.published
		c.mu.Unlock()
		if idx := c.index.Load(); idx != nil && idx.revs[feed] >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for %s at revision %d: %w", res.Name, rev, ctx.Err())
		}
	}
}
