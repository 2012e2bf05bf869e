package server

import (
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// watch is one stream's watch of one kind, kept across its requests.
type watch struct {
	c     *kindCache
	key   any // its response channel, the key in byChan
	sotw  chan cache.Response
	delta chan cache.DeltaResponse
	req   *cache.Request
	dreq  *cache.DeltaRequest
	sub   cache.Subscription

	names    map[string]struct{} // the names it is indexed under
	wildcard bool                // indexed as a wildcard watch
	armed    bool                // waiting for a change (read sub only then)
	answered uint64              // the cache version it last was checked at
	// cancelled is 1 + the sweep epoch in which the stream cancelled the
	// watch without watching again (it ended, or moved to a new channel);
	// 0 while in use.
	cancelled uint64
	cancel    func()
}

// register finds the watch of a response channel, or makes one.
func (c *kindCache) register(ch any) *watch {
	if w := c.byChan[ch]; w != nil {
		w.cancelled = 0
		return w
	}
	w := &watch{c: c, key: ch}
	w.cancel = w.stop
	c.byChan[ch] = w
	return w
}

// arm indexes w under the names its subscription has now, answers it at
// once if the client lacks anything, and otherwise leaves it waiting.
func (c *kindCache) arm(w *watch, evenIfEmpty bool) func() {
	c.index(w)
	w.answered = c.version
	w.armed = true
	c.answer(w, evenIfEmpty)
	return w.cancel
}

// index brings w's place in byName and wildcard in line with its
// subscription; an ACK leaves the names as they were, so usually this
// only compares them.
func (c *kindCache) index(w *watch) {
	wild := w.sub.IsWildcard()
	if wild != w.wildcard {
		if wild {
			c.wildcard[w] = struct{}{}
		} else {
			delete(c.wildcard, w)
		}
		w.wildcard = wild
	}
	subscribed := w.sub.SubscribedResources()
	if sameNames(w.names, subscribed) {
		return
	}
	for n := range w.names {
		if _, ok := subscribed[n]; !ok {
			ws := c.byName[n]
			delete(ws, w)
			if len(ws) == 0 {
				delete(c.byName, n)
			}
		}
	}
	names := make(map[string]struct{}, len(subscribed))
	for n := range subscribed {
		names[n] = struct{}{}
		if _, ok := w.names[n]; ok {
			continue
		}
		ws := c.byName[n]
		if ws == nil {
			ws = map[*watch]struct{}{}
			c.byName[n] = ws
		}
		ws[w] = struct{}{}
	}
	w.names = names
}

func sameNames(a, b map[string]struct{}) bool {
	if len(a) != len(b) {
		return false
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			return false
		}
	}
	return true
}

// stop is a watch's cancel: the stream is about to change its
// subscription, watch again, or end.
func (w *watch) stop() {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	w.armed = false
	if w.cancelled == 0 {
		w.cancelled = c.epoch + 1
	}
}

// sweep drops the watches cancelled before the previous sweep and not
// watched again since: their streams have ended (or, for the per-type
// services, which use a new channel per request, moved on).
func (c *kindCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, w := range c.byChan {
		if w.cancelled == 0 || w.cancelled > c.epoch {
			continue
		}
		delete(c.byChan, key)
		delete(c.wildcard, w)
		for n := range w.names {
			ws := c.byName[n]
			delete(ws, w)
			if len(ws) == 0 {
				delete(c.byName, n)
			}
		}
	}
	c.epoch++
}

// watches is the number of registered watches (for tests).
func (c *kindCache) watches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byChan)
}
