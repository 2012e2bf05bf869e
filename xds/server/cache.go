package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// kindCache is the cache of one kind of resource. It answers watches as
// go-control-plane's LinearCache does (same versions, same choice of what a
// response carries, the server's protocol handling unchanged), but its
// costs per watch are those of a fan-out to thousands of streams that
// watch the same few resources and ACK every push:
//
//   - A resource is marshalled once, when it is set, into an Any (and for
//     delta a Resource with its content hash) that every response shares.
//     LinearCache also marshals once, but wraps the bytes anew per watch.
//   - A watch stays registered across the requests of its stream. The ADS
//     and delta servers cancel a stream's watch and create it again, on
//     the same response channel, for every ACK; LinearCache then removes
//     it from the index of every name it watches and adds it back. Here a
//     cancel only disarms the registration, the next watch on the channel
//     re-arms it (and re-indexes only if the names changed), and
//     registrations left cancelled are swept (see sweep).
//   - A NACK of a client's first response (version_info "") is not read as
//     a new client's first request, which LinearCache answers with
//     everything again, in a loop with the client's NACKs.
type kindCache struct {
	typeURL   string
	fullState bool // sotw responses carry every subscribed resource (LDS, CDS)

	mu        sync.Mutex
	version   uint64
	versionV  string // version, formatted
	resources map[string]*entry
	all       []*anypb.Any // every resource, for wildcard full-state responses; nil until asked for
	byName    map[string]map[*watch]struct{}
	wildcard  map[*watch]struct{}
	byChan    map[any]*watch
	epoch     uint64 // sweeps so far
}

// entry is one resource as served.
type entry struct {
	msg     types.Resource
	any     *anypb.Any
	delta   *discoveryv3.Resource
	version string // sotw: the cache version it was set at
}

func newKindCache(typeURL string) *kindCache {
	return &kindCache{
		typeURL:   typeURL,
		versionV:  "0",
		fullState: cache.ResourceRequiresFullStateInSotw(typeURL),
		resources: map[string]*entry{},
		byName:    map[string]map[*watch]struct{}{},
		wildcard:  map[*watch]struct{}{},
		byChan:    map[any]*watch{},
	}
}

var _ cache.Cache = (*kindCache)(nil)

// update sets and deletes resources and answers the armed watches of the
// names it touched. Every resource is marshalled before anything changes,
// so an error leaves the cache as it was.
func (c *kindCache) update(set map[string]types.Resource, del []string) error {
	entries := make(map[string]*entry, len(set))
	for name, res := range set {
		b, err := cache.MarshalResource(res)
		if err != nil {
			return fmt.Errorf("marshal %s: %w", name, err)
		}
		a := &anypb.Any{TypeUrl: c.typeURL, Value: b}
		entries[name] = &entry{msg: res, any: a, delta: &discoveryv3.Resource{Name: name, Version: cache.HashResource(b), Resource: a}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version++
	c.versionV = strconv.FormatUint(c.version, 10)
	for name, e := range entries {
		e.version = c.versionV
		c.resources[name] = e
	}
	for _, name := range del {
		delete(c.resources, name)
	}
	c.all = nil
	// Answer each armed watch of a touched name once (mark: the version).
	touched := func(w *watch) {
		if !w.armed || w.answered == c.version {
			return
		}
		w.answered = c.version
		c.answer(w, false)
	}
	for name := range entries {
		for w := range c.byName[name] {
			touched(w)
		}
	}
	for _, name := range del {
		for w := range c.byName[name] {
			touched(w)
		}
	}
	for w := range c.wildcard {
		touched(w)
	}
	return nil
}

// answer sends w a response if it is owed one, and disarms it then. A
// watch's channel always has room: the servers keep at most one response
// per type in flight, and a watch is answered at most once per arming.
func (c *kindCache) answer(w *watch, evenIfEmpty bool) bool {
	if w.sotw != nil {
		r := c.sotwResponse(w, evenIfEmpty)
		if r == nil {
			return false
		}
		w.armed = false
		w.sotw <- r
		return true
	}
	r := c.deltaResponse(w, evenIfEmpty)
	if r == nil {
		return false
	}
	w.armed = false
	w.delta <- r
	return true
}

// changes lists the resources a subscription lacks or has an older
// version of, and the names it knows that are gone or no longer
// subscribed (LinearCache's computeResourceChange).
func (c *kindCache) changes(sub cache.Subscription, hashes bool) (changed []string, removed []string) {
	known := sub.ReturnedResources()
	version := func(e *entry) string {
		if hashes {
			return e.delta.Version
		}
		return e.version
	}
	if sub.IsWildcard() {
		for name, e := range c.resources {
			if v, ok := known[name]; !ok || v != version(e) {
				changed = append(changed, name)
			}
		}
		for name := range known {
			if _, ok := c.resources[name]; !ok {
				removed = append(removed, name)
			}
		}
		return changed, removed
	}
	subscribed := sub.SubscribedResources()
	for name := range subscribed {
		e, exists := c.resources[name]
		v, ok := known[name]
		switch {
		case !exists:
			if ok {
				removed = append(removed, name)
			}
		case !ok || v != version(e):
			changed = append(changed, name)
		}
	}
	for name := range known {
		if _, ok := subscribed[name]; !ok {
			removed = append(removed, name)
		}
	}
	return changed, removed
}

// returned is what the client will know after a response carrying names.
func returned(known map[string]string, names []string, removed []string, version func(string) string) map[string]string {
	out := make(map[string]string, len(known)+len(names))
	maps.Copy(out, known)
	for _, n := range names {
		out[n] = version(n)
	}
	for _, n := range removed {
		delete(out, n)
	}
	return out
}

func (c *kindCache) sotwResponse(w *watch, evenIfEmpty bool) *sotwResponse {
	changed, removed := c.changes(w.sub, false)
	if len(changed) == 0 && len(removed) == 0 && !evenIfEmpty {
		return nil
	}
	var names []string
	var resources []*anypb.Any
	switch {
	case !c.fullState:
		// RDS, EDS: only what changed; nothing to say about a removal.
		if len(changed) == 0 && !evenIfEmpty {
			return nil
		}
		names = changed
	case w.sub.IsWildcard():
		if c.all == nil {
			c.all = make([]*anypb.Any, 0, len(c.resources))
			for _, e := range c.resources {
				c.all = append(c.all, e.any)
			}
		}
		resources = c.all
		names = make([]string, 0, len(c.resources))
		for name := range c.resources {
			names = append(names, name)
		}
	default:
		for name := range w.sub.SubscribedResources() {
			if _, ok := c.resources[name]; ok {
				names = append(names, name)
			}
		}
	}
	if resources == nil {
		resources = make([]*anypb.Any, len(names))
		for i, n := range names {
			resources[i] = c.resources[n].any
		}
	}
	r := &sotwResponse{req: w.req}
	r.out.VersionInfo = c.versionV
	r.out.TypeUrl = c.typeURL
	r.out.Resources = resources
	r.returned = returned(w.sub.ReturnedResources(), names, removed, func(n string) string { return c.resources[n].version })
	return r
}

func (c *kindCache) deltaResponse(w *watch, evenIfEmpty bool) *deltaResponse {
	changed, removed := c.changes(w.sub, true)
	if len(changed) == 0 && len(removed) == 0 && !evenIfEmpty {
		return nil
	}
	r := &deltaResponse{req: w.dreq}
	r.out.SystemVersionInfo = c.versionV
	r.out.TypeUrl = c.typeURL
	r.out.Resources = make([]*discoveryv3.Resource, len(changed))
	for i, n := range changed {
		r.out.Resources[i] = c.resources[n].delta
	}
	r.out.RemovedResources = removed
	r.returned = returned(w.sub.ReturnedResources(), changed, removed, func(n string) string { return c.resources[n].delta.Version })
	return r
}

// CreateWatch answers a state-of-the-world request now if the client lacks
// something (or has nothing yet), else arms a watch.
func (c *kindCache) CreateWatch(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	if req.GetTypeUrl() != c.typeURL {
		return nil, fmt.Errorf("request type %s does not match cache type %s", req.GetTypeUrl(), c.typeURL)
	}
	// No version: a client with no state, answered even if nothing
	// exists — unless the request is a NACK (of the first response).
	evenIfEmpty := req.GetVersionInfo() == "" && req.GetErrorDetail() == nil
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.register(ch)
	w.sotw, w.req, w.sub = ch, req, sub
	return c.arm(w, evenIfEmpty), nil
}

// CreateDeltaWatch is CreateWatch for the incremental protocol.
func (c *kindCache) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	if req.GetTypeUrl() != c.typeURL {
		return nil, fmt.Errorf("request type %s does not match cache type %s", req.GetTypeUrl(), c.typeURL)
	}
	// A wildcard subscription's first request is answered even if empty:
	// Envoy waits for it to finish initialising.
	evenIfEmpty := sub.IsWildcard() && req.GetResponseNonce() == ""
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.register(ch)
	w.delta, w.dreq, w.sub = ch, req, sub
	return c.arm(w, evenIfEmpty), nil
}

// Fetch is not offered (no REST xDS), as with LinearCache.
func (c *kindCache) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, errors.New("fetch is not implemented")
}

func (c *kindCache) resourcesCopy() map[string]types.Resource {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]types.Resource, len(c.resources))
	for n, e := range c.resources {
		out[n] = e.msg
	}
	return out
}

func (c *kindCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.resources)
}
