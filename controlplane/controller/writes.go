package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// cacheCatchUp bounds how long a sync waits for the caches to show its own
// writes; past it the key is retried, which is safe but slower.
const cacheCatchUp = 30 * time.Second

// Writes records, per cache, the newest etcd revision a sync wrote and the
// objects it deleted, so the sync can end by waiting until its caches show
// those writes (Kubernetes' controllers keep "expectations" for the same
// purpose). The next sync of any key then reads its own writes: a controller
// never creates a pod twice because its cache had not yet seen the first.
// The zero Writes is ready to use.
type Writes struct {
	mu   sync.Mutex
	revs map[*store.Cache]int64
	gone map[*store.Cache][]store.Object
}

// Wrote records obj, as a write to c returned it.
func (w *Writes) Wrote(c *store.Cache, obj store.Object) {
	if obj == nil {
		return
	}
	rev, err := store.ParseResourceVersion(obj.GetResourceVersion())
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.revs == nil {
		w.revs = map[*store.Cache]int64{}
	}
	w.revs[c] = max(w.revs[c], rev)
}

// Deleted records that obj, of c, was deleted. A delete does not return its
// revision, so the wait is for obj to leave the cache.
func (w *Writes) Deleted(c *store.Cache, obj store.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gone == nil {
		w.gone = map[*store.Cache][]store.Object{}
	}
	w.gone[c] = append(w.gone[c], obj)
}

// Wait blocks until every cache written to since the last Wait has caught
// up, or cacheCatchUp has passed.
func (w *Writes) Wait(ctx context.Context) error {
	w.mu.Lock()
	revs, gone := w.revs, w.gone
	w.revs, w.gone = nil, nil
	w.mu.Unlock()
	if len(revs)+len(gone) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, cacheCatchUp)
	defer cancel()
	for c, rev := range revs {
		if err := c.WaitForRevision(ctx, rev); err != nil {
			return fmt.Errorf("wait for the %s cache to reach revision %d: %w", c.Resource().Name, rev, err)
		}
	}
	for c, objs := range gone {
		if err := waitGone(ctx, c, objs); err != nil {
			return fmt.Errorf("wait for the %s cache to see %d deletions: %w", c.Resource().Name, len(objs), err)
		}
	}
	return nil
}

// waitGone waits until none of objs is in c (a namesake with another uid
// does not count).
func waitGone(ctx context.Context, c *store.Cache, objs []store.Object) error {
	for {
		// Read the revision before looking, so a deletion applied in
		// between still wakes the wait.
		rev := c.Revision()
		left := false
		for _, o := range objs {
			if cur, ok := c.Get(o.GetNamespace(), o.GetName()); ok && cur.GetUID() == o.GetUID() {
				left = true
				break
			}
		}
		if !left {
			return nil
		}
		if err := c.WaitForRevision(ctx, rev+1); err != nil {
			return err
		}
	}
}
