package controllers

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// sliceIndex holds the EndpointSlices one controller manages, by service,
// and the newest revision its handler has applied, so a worker can wait
// until its own writes show before it calls a key done.
type sliceIndex struct {
	managedBy string

	mu      sync.Mutex
	bySvc   map[string]map[string]*discoveryv1.EndpointSlice // "ns/service" → slice name → slice
	filedAt map[string]string                                // "ns/slice" → "ns/service"
	rev     int64
	changed chan struct{} // closed and replaced on every event
}

func newSliceIndex(managedBy string) *sliceIndex {
	return &sliceIndex{
		managedBy: managedBy,
		bySvc:     map[string]map[string]*discoveryv1.EndpointSlice{},
		filedAt:   map[string]string{},
		changed:   make(chan struct{}),
	}
}

// serviceOf is the key of the service a slice this controller manages
// belongs to, or "" for a slice it does not manage.
func (x *sliceIndex) serviceOf(s *discoveryv1.EndpointSlice) string {
	svc := s.Labels[discoveryv1.LabelServiceName]
	if svc == "" || s.Labels[discoveryv1.LabelManagedBy] != x.managedBy {
		return ""
	}
	return s.Namespace + "/" + svc
}

// apply records a cache event and returns the keys of the services whose
// slices it changed (before and after, should the labels have moved it).
func (x *sliceIndex) apply(e store.Event) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	defer func() {
		x.rev = max(x.rev, e.Revision)
		close(x.changed)
		x.changed = make(chan struct{})
	}()
	s, ok := e.Object.(*discoveryv1.EndpointSlice)
	if !ok || !isChange(e) {
		return nil
	}
	key := s.Namespace + "/" + s.Name
	var touched []string
	if prev, ok := x.filedAt[key]; ok {
		delete(x.bySvc[prev], s.Name)
		if len(x.bySvc[prev]) == 0 {
			delete(x.bySvc, prev)
		}
		delete(x.filedAt, key)
		touched = append(touched, prev)
	}
	if e.Type == watch.Deleted {
		return touched
	}
	svc := x.serviceOf(s)
	if svc == "" || s.DeletionTimestamp != nil {
		// Being deleted (held by a finalizer): no longer a slice to keep.
		if svc != "" && !slices.Contains(touched, svc) {
			touched = append(touched, svc)
		}
		return touched
	}
	m := x.bySvc[svc]
	if m == nil {
		m = map[string]*discoveryv1.EndpointSlice{}
		x.bySvc[svc] = m
	}
	m[s.Name] = s
	x.filedAt[key] = svc
	if !slices.Contains(touched, svc) {
		touched = append(touched, svc)
	}
	return touched
}

// forService returns the slices of service key, by name.
func (x *sliceIndex) forService(key string) []*discoveryv1.EndpointSlice {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*discoveryv1.EndpointSlice, 0, len(x.bySvc[key]))
	for _, s := range x.bySvc[key] {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// waitFor waits until the index has applied revision rev and none of gone
// ("ns/slice" keys of deleted slices) is filed any more, or ctx ends. Cache
// itself advances its revision before its handlers run, so waiting on the
// index, not just the cache, is what makes a worker read its own writes.
func (x *sliceIndex) waitFor(ctx context.Context, rev int64, gone []string) error {
	for {
		x.mu.Lock()
		done := x.rev >= rev
		for _, k := range gone {
			if _, ok := x.filedAt[k]; ok {
				done = false
			}
		}
		ch := x.changed
		x.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// epEchoes remembers the resourceVersions of a controller's own writes, so
// the cache events they cause do not queue work that is already done (as
// Kubernetes' EndpointSliceTracker does).
type epEchoes struct {
	mu sync.Mutex
	m  map[string]string // "ns/name" → resourceVersion written, or deleted
}

const echoDeleted = "deleted"

func newEPEchoes() *epEchoes { return &epEchoes{m: map[string]string{}} }

func (e *epEchoes) wrote(key, rv string) {
	e.mu.Lock()
	e.m[key] = rv
	e.mu.Unlock()
}

// isEcho reports whether ev is the event of this controller's last write of
// the object. Any event of the object ends the expectation.
func (e *epEchoes) isEcho(ev store.Event) bool {
	key := Key(ev.Object)
	e.mu.Lock()
	defer e.mu.Unlock()
	want, ok := e.m[key]
	if !ok {
		return false
	}
	delete(e.m, key)
	if ev.Type == watch.Deleted {
		return want == echoDeleted
	}
	return want == ev.Object.GetResourceVersion()
}

// revision is a write's resourceVersion as an etcd revision.
func epRevision(o store.Object) int64 {
	n, _ := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
	return n
}

// epSyncs counts a controller's finished reconciles by key, so tests can
// wait for a reconcile rather than for time to pass.
type epSyncs struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *epSyncs) done(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	s.n[key]++
}

func (s *epSyncs) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[key]
}
