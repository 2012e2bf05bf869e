package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// Echoes remembers the resourceVersions of a controller's own writes, so the
// cache events they cause do not queue work that is already done (as
// Kubernetes' EndpointSliceTracker does).
type Echoes struct {
	mu sync.Mutex
	m  map[string]string // key → resourceVersion written, or echoDeleted
}

// echoDeleted marks a deletion; a resourceVersion is a number.
const echoDeleted = "deleted"

// NewEchoes returns an empty Echoes.
func NewEchoes() *Echoes { return &Echoes{m: map[string]string{}} }

// Wrote records obj, as a create or update returned it.
func (e *Echoes) Wrote(obj store.Object) { e.set(Key(obj), obj.GetResourceVersion()) }

// Deleted records the deletion of the object with key.
func (e *Echoes) Deleted(key string) { e.set(key, echoDeleted) }

func (e *Echoes) set(key, rv string) {
	e.mu.Lock()
	e.m[key] = rv
	e.mu.Unlock()
}

// IsEcho reports whether ev is the event of this controller's last write of
// the object. Any event of the object ends the expectation.
func (e *Echoes) IsEcho(ev store.Event) bool {
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
