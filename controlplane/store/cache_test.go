package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// recorder is a subscriber that keeps every event it saw and its own view.
type recorder struct {
	t        *testing.T
	mu       sync.Mutex
	seen     map[string]bool // "ns/name@rv" of every Added/Modified
	view     map[string]string
	relisted int
	lastRev  int64
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, seen: map[string]bool{}, view: map[string]string{}}
}

func (r *recorder) handle(e store.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Revision < r.lastRev {
		r.t.Errorf("event at revision %d after revision %d", e.Revision, r.lastRev)
	}
	r.lastRev = e.Revision
	if e.Type == store.Relisted {
		r.relisted++
		return
	}
	key := e.Object.GetNamespace() + "/" + e.Object.GetName()
	switch e.Type {
	case watch.Deleted:
		delete(r.view, key)
	default:
		id := key + "@" + e.Object.GetResourceVersion()
		if r.seen[id] {
			r.t.Errorf("event %s %s delivered twice", e.Type, id)
		}
		r.seen[id] = true
		r.view[key] = e.Object.GetResourceVersion()
	}
}

func (r *recorder) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

// write retries until etcd takes the write (it may be restarting) and returns
// the "ns/name@rv" it committed.
func write(t *testing.T, st *store.Store, name string, port int32) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		o, err := st.GuaranteedUpdate(ctx, svcs, "default", name, func(cur store.Object) (store.Object, store.Txn, error) {
			cur.(*corev1.Service).Spec.Ports[0].Port = port
			return cur, store.Txn{}, nil
		})
		cancel()
		if err == nil {
			return "default/" + name + "@" + o.GetResourceVersion()
		}
		if time.Now().After(deadline) {
			t.Fatalf("write %s: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCacheSurvivesEtcdRestartWithoutLossOrDuplicates(t *testing.T) {
	st, e := newStore(t)
	ctx := t.Context()
	for i := range 5 {
		if _, err := st.Create(ctx, svcs, service("default", fmt.Sprint("s", i), nil), store.Txn{}); err != nil {
			t.Fatal(err)
		}
	}
	c := store.NewCache(st, svcs, nil)
	go c.Run(ctx)
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	defer c.Subscribe(rec.handle)()
	if len(rec.view) != 5 {
		t.Fatalf("subscriber saw %d objects at subscription, want 5", len(rec.view))
	}

	var committed []string
	for round := range 3 {
		for i := range 5 {
			committed = append(committed, write(t, st, fmt.Sprint("s", i), int32(100*round+i+1)))
		}
		e.Restart(t)
	}
	for i := range 5 {
		committed = append(committed, write(t, st, fmt.Sprint("s", i), int32(1000+i)))
	}
	for _, id := range committed {
		testenv.Eventually(t, 20*time.Second, "event "+id, func() bool { return rec.has(id) })
	}
	list, err := st.List(ctx, svcs, "", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, o := range list.Items {
		key := o.GetNamespace() + "/" + o.GetName()
		if rec.view[key] != o.GetResourceVersion() {
			t.Errorf("%s: subscriber has rv %s, etcd %s", key, rec.view[key], o.GetResourceVersion())
		}
	}
}

func TestCacheRelistsAfterCompactionAndTellsSubscribers(t *testing.T) {
	st, _ := newStore(t)
	ctx := t.Context()
	for i := range 4 {
		if _, err := st.Create(ctx, svcs, service("default", fmt.Sprint("s", i), nil), store.Txn{}); err != nil {
			t.Fatal(err)
		}
	}
	c := store.NewCache(st, svcs, nil)
	rec := newRecorder(t)
	defer c.Subscribe(rec.handle)()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.Run(runCtx); close(done) }()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "initial objects", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.view) == 4 })
	stop()
	<-done

	// While the cache is not watching: change one, delete one, add one, and
	// compact past all of it, so the cache cannot resume and must re-list.
	changed := write(t, st, "s1", 4242)
	if _, err := st.Delete(ctx, svcs, "default", "s2", nil, nil); err != nil {
		t.Fatal(err)
	}
	added, err := st.Create(ctx, svcs, service("default", "s9", nil), store.Txn{})
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := store.ParseResourceVersion(added.GetResourceVersion())
	if _, err := st.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	testenv.Eventually(t, 20*time.Second, "relist", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return rec.relisted == 1 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if _, ok := rec.view["default/s2"]; ok {
		t.Error("deleted object still in the subscriber's view after relist")
	}
	if !rec.seen[changed] || !rec.seen["default/s9@"+added.GetResourceVersion()] {
		t.Errorf("relist did not deliver the change and the addition: %v", rec.seen)
	}
	if len(rec.view) != 4 {
		t.Errorf("subscriber view has %d objects, want 4", len(rec.view))
	}
	if got := len(c.List("", store.Predicate{})); got != 4 {
		t.Errorf("cache lists %d objects, want 4", got)
	}
}

// TestCacheTransform checks that a cache with a transform keeps and hands
// out only the transformed objects: listed, watched, deleted and got.
func TestCacheTransform(t *testing.T) {
	st, _ := newStore(t)
	ctx := t.Context()
	if _, err := st.Create(ctx, svcs, service("default", "listed", map[string]string{"app": "x"}), store.Txn{}); err != nil {
		t.Fatal(err)
	}
	trim := func(o store.Object) store.Object {
		svc := o.(*corev1.Service)
		out := &corev1.Service{}
		out.Namespace, out.Name, out.ResourceVersion = svc.Namespace, svc.Name, svc.ResourceVersion
		out.Annotations = map[string]string{"trimmed": "yes"}
		return out
	}
	c := store.NewCache(st, svcs, nil, store.WithTransform(trim))
	var mu sync.Mutex
	var events []store.Event
	defer c.Subscribe(func(e store.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })()
	go c.Run(ctx)
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	created, err := st.Create(ctx, svcs, service("default", "watched", map[string]string{"app": "y"}), store.Txn{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Delete(ctx, svcs, "default", "listed", nil, nil); err != nil {
		t.Fatal(err)
	}
	rev, _ := store.ParseResourceVersion(created.GetResourceVersion())
	testenv.Eventually(t, 10*time.Second, "events", func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 3 })
	if err := c.WaitForRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, want := range []struct {
		typ  watch.EventType
		name string
	}{{watch.Added, "listed"}, {watch.Added, "watched"}, {watch.Deleted, "listed"}} {
		e := events[i]
		if e.Type != want.typ || e.Object.GetName() != want.name || e.Object.GetAnnotations()["trimmed"] != "yes" || len(e.Object.GetLabels()) != 0 {
			t.Errorf("event %d: %s %s %v %v, want %s %s trimmed", i, e.Type, e.Object.GetName(), e.Object.GetAnnotations(), e.Object.GetLabels(), want.typ, want.name)
		}
	}
	if o, ok := c.Get("default", "watched"); !ok || o.GetAnnotations()["trimmed"] != "yes" || o.GetResourceVersion() != created.GetResourceVersion() {
		t.Errorf("Get: %v %v", o, ok)
	}
	if _, ok := c.Get("default", "listed"); ok {
		t.Error("deleted object still cached")
	}
}
