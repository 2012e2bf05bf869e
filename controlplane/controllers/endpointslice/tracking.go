package endpointslice

import (
	"context"
	"slices"
	"sort"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// sliceIndex holds the EndpointSlices one controller manages, by service
// (as package endpoint's indexes hold pods and selectors: "which slices
// belong to this service" is then no scan of every slice), and the newest
// revision its handler has applied, so a worker can wait until its own
// writes show before it calls a key done.
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
	if !ok || !controller.IsChange(e) {
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
