package store

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
)

// Relisted is the Cache event that follows a re-list (after etcd compacted
// the revision the cache was watching from). The Added, Modified and Deleted
// events that bring a subscriber from its old view to the new list come
// first, so a subscriber that applies events one by one stays exact; one that
// rebuilds its state from scratch can do it on Relisted.
const Relisted watch.EventType = "RELISTED"

// Handler receives a Cache's events, one at a time, in revision order. It is
// called from the cache's goroutine and must not block for long; objects it
// receives are shared and must not be modified.
type Handler func(Event)

// Cache is a shared, resumable, in-memory view of one resource: it lists at
// revision R and watches from R+1; when the watch breaks it resumes from the
// last revision it delivered, and when etcd has compacted that revision it
// lists again and tells subscribers what changed. Subscribers never see an
// event twice or miss one that changed their view.
type Cache struct {
	store     *Store
	res       *api.Resource
	log       *slog.Logger
	transform Transform // nil: objects are kept as decoded

	mu       sync.RWMutex // guards objs and rev
	objs     map[string]Object
	rev      int64
	handlers []*Handler
	dispatch sync.Mutex // held while handlers run, so they see events in order

	synced     chan struct{}
	syncedOnce sync.Once
	// advanced is closed and replaced each time rev moves (under mu), so
	// WaitForRevision can wait without polling.
	advanced chan struct{}
}

// Transform turns an object into what a cache keeps of it, before the cache
// stores it and hands it to subscribers, as client-go's
// SharedInformer.SetTransform does: a reader that needs a few fields of an
// object (DNS: a Service's addresses and ports) keeps only those. The result
// must keep the namespace, name and resourceVersion and implement
// DeepCopyObject; the argument is the cache's own and may be kept or dropped.
// Only a cache whose every subscriber wants the trimmed object may have one.
type Transform func(Object) Object

// CacheOption configures a Cache (NewCache) or every cache of a set
// (NewCaches).
type CacheOption func(*Cache)

// WithTransform makes the cache keep t(obj) instead of each object.
func WithTransform(t Transform) CacheOption { return func(c *Cache) { c.transform = t } }

// NewCache returns a cache of r; call Run to fill it.
func NewCache(st *Store, r *api.Resource, log *slog.Logger, opts ...CacheOption) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		store:    st,
		res:      r,
		log:      log.With("component", "cache", "resource", r.Name),
		objs:     map[string]Object{},
		synced:   make(chan struct{}),
		advanced: make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// keep is what the cache keeps of o.
func (c *Cache) keep(o Object) Object {
	if c.transform == nil {
		return o
	}
	return c.transform(o)
}

// Resource is the resource the cache holds.
func (c *Cache) Resource() *api.Resource { return c.res }

// Run fills the cache and keeps it current until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := c.relist(ctx); err != nil {
			c.log.Warn("list failed; retrying", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		c.watch(ctx)
	}
}

// watch applies events until the watch fails for good (compaction) or ctx ends.
func (c *Cache) watch(ctx context.Context) {
	for ctx.Err() == nil {
		from := c.Revision()
		wctx, cancel := context.WithCancel(ctx)
		ch := c.store.watch(wctx, c.res, "", from, Predicate{}, false, false)
		expired := false
		for e := range ch {
			if e.Type == watch.Bookmark {
				continue // a progress notification: nothing changed
			}
			if e.Type == watch.Error {
				if apierrors.IsResourceExpired(e.Err) || apierrors.IsGone(e.Err) {
					expired = true
				} else {
					c.log.Info("watch interrupted; resuming", "err", e.Err, "revision", from)
				}
				break
			}
			c.apply(e)
		}
		cancel()
		if expired {
			c.log.Info("watch revision compacted; listing again", "revision", c.Revision())
			return
		}
		// etcd gone or leaderless: wait a little and resume from where we were.
		if !sleep(ctx, 200*time.Millisecond) {
			return
		}
	}
}

// apply records e and passes it to the handlers, unless the cache has already
// seen it (a resumed watch may repeat the last revision's events).
func (c *Cache) apply(e Event) {
	c.dispatch.Lock()
	defer c.dispatch.Unlock()
	c.mu.Lock()
	if e.Revision <= c.rev {
		c.mu.Unlock()
		return
	}
	// The watch carries no previous values: the cache has them.
	key := objectKey(e.Object)
	prev, had := c.objs[key]
	switch e.Type {
	case watch.Deleted:
		if !had {
			c.mu.Unlock()
			return
		}
		gone := prev.DeepCopyObject().(Object)
		gone.SetResourceVersion(e.Object.GetResourceVersion())
		e.Object, e.Old = gone, prev
		delete(c.objs, key)
	default:
		if had {
			e.Type, e.Old = watch.Modified, prev
		} else {
			e.Type = watch.Added
		}
		e.Object = c.keep(e.Object)
		c.objs[key] = e.Object
	}
	c.rev = e.Revision
	c.advanceLocked()
	handlers := c.handlers
	c.mu.Unlock()
	for _, h := range handlers {
		(*h)(e)
	}
}

// relist lists the resource and moves the cache (and its subscribers) to it.
func (c *Cache) relist(ctx context.Context) error {
	list, err := c.store.List(ctx, c.res, "", ListOptions{})
	if err != nil {
		return err
	}
	fresh := make(map[string]Object, len(list.Items))
	for i, o := range list.Items {
		fresh[objectKey(o)] = c.keep(o)
		list.Items[i] = nil // let the decoded object go as soon as it is trimmed
	}
	c.dispatch.Lock()
	defer c.dispatch.Unlock()
	c.mu.Lock()
	old, first := c.objs, c.rev == 0
	c.objs, c.rev = fresh, list.Revision
	c.advanceLocked()
	handlers := c.handlers
	c.mu.Unlock()
	events := diff(old, fresh, list.Revision)
	if !first {
		events = append(events, Event{Type: Relisted, Revision: list.Revision})
	}
	for _, e := range events {
		for _, h := range handlers {
			(*h)(e)
		}
	}
	c.syncedOnce.Do(func() { close(c.synced) })
	return nil
}

// diff is the events that turn view old into view fresh, in key order.
func diff(old, fresh map[string]Object, rev int64) []Event {
	var out []Event
	for k, o := range fresh {
		prev, ok := old[k]
		switch {
		case !ok:
			out = append(out, Event{Type: watch.Added, Object: o, Revision: rev})
		case prev.GetResourceVersion() != o.GetResourceVersion():
			out = append(out, Event{Type: watch.Modified, Object: o, Old: prev, Revision: rev})
		}
	}
	for k, o := range old {
		if _, ok := fresh[k]; !ok {
			gone := o.DeepCopyObject().(Object)
			gone.SetResourceVersion(strconv.FormatInt(rev, 10))
			out = append(out, Event{Type: watch.Deleted, Object: gone, Old: o, Revision: rev})
		}
	}
	sort.Slice(out, func(i, j int) bool { return objectKey(out[i].Object) < objectKey(out[j].Object) })
	return out
}

// Subscribe adds h: it first receives an Added event for every object in the
// cache, then every change, in order. The returned func removes h.
func (c *Cache) Subscribe(h Handler) (unsubscribe func()) {
	c.dispatch.Lock()
	defer c.dispatch.Unlock()
	c.mu.Lock()
	objs, rev := c.sortedLocked(), c.rev
	sub := &h
	// Copy on write: apply and relist range over the slice they read.
	c.handlers = append(c.handlers[:len(c.handlers):len(c.handlers)], sub)
	c.mu.Unlock()
	for _, o := range objs {
		h(Event{Type: watch.Added, Object: o, Revision: rev})
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		hs := make([]*Handler, 0, len(c.handlers))
		for _, x := range c.handlers {
			if x != sub {
				hs = append(hs, x)
			}
		}
		c.handlers = hs
	}
}

// Synced is closed once the cache holds a complete list.
func (c *Cache) Synced() <-chan struct{} { return c.synced }

// WaitSynced waits for the first list, or for ctx to end.
func (c *Cache) WaitSynced(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Cache) advanceLocked() {
	close(c.advanced)
	c.advanced = make(chan struct{})
}

// WaitForRevision waits until the cache has caught up with etcd revision rev
// (the resourceVersion a write returned), so a controller reads its own
// writes and does not, say, create a pod twice because the cache lagged.
func (c *Cache) WaitForRevision(ctx context.Context, rev int64) error {
	for {
		c.mu.RLock()
		cur, ch := c.rev, c.advanced
		c.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Revision is the etcd revision the cache is current to.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// Get returns the cached object namespace/name. It must not be modified.
func (c *Cache) Get(namespace, name string) (Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.objs[namespace+"/"+name]
	return o, ok
}

// List returns the cached objects in namespace ("" for all) that pred
// selects, sorted by namespace and name. They must not be modified.
func (c *Cache) List(namespace string, pred Predicate) []Object {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Object
	for _, o := range c.sortedLocked() {
		if (namespace == "" || o.GetNamespace() == namespace) && pred.Matches(c.res, o) {
			out = append(out, o)
		}
	}
	return out
}

func (c *Cache) sortedLocked() []Object {
	keys := make([]string, 0, len(c.objs))
	for k := range c.objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Object, len(keys))
	for i, k := range keys {
		out[i] = c.objs[k]
	}
	return out
}

func objectKey(o Object) string { return o.GetNamespace() + "/" + o.GetName() }

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
