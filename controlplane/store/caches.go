package store

import (
	"context"
	"log/slog"
	"sync"

	"github.com/shoalmesh/shoal/api"
)

// Caches is a process's set of shared caches, one per resource, created on
// first use and run until the context given to Start ends. The API server,
// controllers, scheduler, DNS and xDS of one process share it, so each
// resource is listed and watched once.
type Caches struct {
	store *Store
	log   *slog.Logger
	opts  []CacheOption

	mu      sync.Mutex
	caches  map[*api.Resource]*Cache
	ctx     context.Context // set by Start; caches made later start at once
	started bool
}

// NewCaches returns an empty set over st; opts apply to every cache in it
// (a set with a Transform belongs to one reader, as DNS's own set in
// `shoal dns`).
func NewCaches(st *Store, log *slog.Logger, opts ...CacheOption) *Caches {
	return &Caches{store: st, log: log, opts: opts, caches: map[*api.Resource]*Cache{}}
}

// For returns the cache of r, creating (and, once started, running) it.
func (cs *Caches) For(r *api.Resource) *Cache {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.caches[r]
	if !ok {
		c = NewCache(cs.store, r, cs.log, cs.opts...)
		cs.caches[r] = c
		if cs.started {
			go c.Run(cs.ctx)
		}
	}
	return c
}

// Existing returns the cache of r if some part of the process made one and
// it has its first list; it never starts a new one.
func (cs *Caches) Existing(r *api.Resource) (*Cache, bool) {
	cs.mu.Lock()
	c, ok := cs.caches[r]
	cs.mu.Unlock()
	if !ok {
		return nil, false
	}
	select {
	case <-c.Synced():
		return c, true
	default:
		return nil, false
	}
}

// Start runs every cache, and every cache made later, until ctx ends.
func (cs *Caches) Start(ctx context.Context) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.started {
		return
	}
	cs.ctx, cs.started = ctx, true
	for _, c := range cs.caches {
		go c.Run(ctx)
	}
}

// WaitSynced waits until every cache in rs has its first list.
func (cs *Caches) WaitSynced(ctx context.Context, rs ...*api.Resource) error {
	for _, r := range rs {
		if err := cs.For(r).WaitSynced(ctx); err != nil {
			return err
		}
	}
	return nil
}
