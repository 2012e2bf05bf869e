package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

var svcs = api.Services.Resource

func newStore(t *testing.T) (*store.Store, *storetest.Etcd) {
	e := storetest.StartEtcd(t)
	return store.New(e.Client(t)), e
}

func service(ns, name string, lbls map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
}

func TestCRUDAndCompareAndSwap(t *testing.T) {
	st, _ := newStore(t)
	ctx := t.Context()

	created, err := st.Create(ctx, svcs, service("default", "web", nil), store.Txn{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.GetResourceVersion() == "" {
		t.Fatal("create returned no resourceVersion")
	}
	if _, err := st.Create(ctx, svcs, service("default", "web", nil), store.Txn{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: got %v, want AlreadyExists", err)
	}
	// The key is where Kubernetes puts it.
	resp, err := st.Client().Get(ctx, "/registry/services/specs/default/web")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw etcd get: %v, %d keys", err, len(resp.Kvs))
	}
	if fmt.Sprint(resp.Kvs[0].ModRevision) != created.GetResourceVersion() {
		t.Fatalf("resourceVersion %s is not the mod revision %d", created.GetResourceVersion(), resp.Kvs[0].ModRevision)
	}

	got, err := st.Get(ctx, svcs, "default", "web")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	stale := got.DeepCopyObject().(*corev1.Service)
	upd := got.(*corev1.Service)
	upd.Spec.Ports[0].Port = 8080
	if _, err := st.Update(ctx, svcs, upd, store.Txn{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	stale.Spec.Ports[0].Port = 9090
	if _, err := st.Update(ctx, svcs, stale, store.Txn{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: got %v, want Conflict", err)
	}
	got, _ = st.Get(ctx, svcs, "default", "web")
	if p := got.(*corev1.Service).Spec.Ports[0].Port; p != 8080 {
		t.Fatalf("port after stale update = %d, want 8080", p)
	}

	// GuaranteedUpdate retries past a concurrent writer.
	_, err = st.GuaranteedUpdate(ctx, svcs, "default", "web", func(cur store.Object) (store.Object, store.Txn, error) {
		s := cur.(*corev1.Service)
		s.Labels = map[string]string{"a": "b"}
		return s, store.Txn{}, nil
	})
	if err != nil {
		t.Fatalf("guaranteed update: %v", err)
	}

	if _, err := st.Delete(ctx, svcs, "default", "web", &store.Preconditions{ResourceVersion: "1"}, nil); !apierrors.IsConflict(err) {
		t.Fatalf("delete with stale precondition: got %v, want Conflict", err)
	}
	if _, err := st.Delete(ctx, svcs, "default", "web", nil, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := st.Get(ctx, svcs, "default", "web"); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: got %v, want NotFound", err)
	}
}

func TestExtraTxnIsAtomic(t *testing.T) {
	st, _ := newStore(t)
	ctx := t.Context()
	claim := func(ip string) store.Txn {
		k := "/registry/test/claims/" + ip
		return store.Txn{
			Cmps: []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)},
			Ops:  []clientv3.Op{clientv3.OpPut(k, "x")},
		}
	}
	if _, err := st.Create(ctx, svcs, service("default", "a", nil), claim("10.96.0.5")); err != nil {
		t.Fatal(err)
	}
	_, err := st.Create(ctx, svcs, service("default", "b", nil), claim("10.96.0.5"))
	if err != store.ErrPreconditionFailed {
		t.Fatalf("create with a taken claim: got %v, want ErrPreconditionFailed", err)
	}
	if _, err := st.Get(ctx, svcs, "default", "b"); !apierrors.IsNotFound(err) {
		t.Fatalf("object of a failed transaction was stored: %v", err)
	}
}

func TestListSelectorsAndPaging(t *testing.T) {
	st, _ := newStore(t)
	ctx := t.Context()
	for i := range 25 {
		ns := "a"
		if i%2 == 1 {
			ns = "b"
		}
		tier := "web"
		if i%5 == 0 {
			tier = "db"
		}
		if _, err := st.Create(ctx, svcs, service(ns, fmt.Sprintf("s%02d", i), map[string]string{"tier": tier}), store.Txn{}); err != nil {
			t.Fatal(err)
		}
	}
	// A namespace "ab" must not leak into a list of "a".
	if _, err := st.Create(ctx, svcs, service("ab", "x", nil), store.Txn{}); err != nil {
		t.Fatal(err)
	}
	sel := func(l, f string) store.Predicate {
		ls, _ := labels.Parse(l)
		fs, _ := fields.ParseSelector(f)
		return store.Predicate{Label: ls, Field: fs}
	}
	cases := []struct {
		ns, label, field string
		want             int
	}{
		{"", "", "", 26},
		{"a", "", "", 13},
		{"", "tier=db", "", 5},
		{"", "tier!=db", "", 21},
		{"b", "tier=web", "", 10},
		{"", "", "metadata.name=s03", 1},
		{"", "", "metadata.namespace!=a", 13},
	}
	for _, c := range cases {
		// Page through with a small limit; the pages must add up exactly.
		var all []string
		opts := store.ListOptions{Predicate: sel(c.label, c.field), Limit: 4}
		var rev int64
		for {
			res, err := st.List(ctx, svcs, c.ns, opts)
			if err != nil {
				t.Fatalf("%+v: list: %v", c, err)
			}
			if rev != 0 && res.Revision != rev {
				t.Fatalf("%+v: pages read at different revisions %d and %d", c, rev, res.Revision)
			}
			rev = res.Revision
			for _, o := range res.Items {
				all = append(all, o.GetNamespace()+"/"+o.GetName())
			}
			if res.Continue == "" {
				break
			}
			opts.Continue = res.Continue
		}
		if len(all) != c.want {
			t.Errorf("%+v: got %d items %v, want %d", c, len(all), all, c.want)
		}
		seen := map[string]bool{}
		for _, k := range all {
			if seen[k] {
				t.Errorf("%+v: %s listed twice", c, k)
			}
			seen[k] = true
		}
	}
	if _, err := st.List(ctx, svcs, "", store.ListOptions{Continue: "garbage"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("bad continue token: got %v, want BadRequest", err)
	}
}

func TestWatchFromRevisionWithSelectorTransitions(t *testing.T) {
	st, _ := newStore(t)
	ctx := t.Context()
	first, err := st.Create(ctx, svcs, service("default", "a", map[string]string{"app": "x"}), store.Txn{})
	if err != nil {
		t.Fatal(err)
	}
	rev, _ := store.ParseResourceVersion(first.GetResourceVersion())
	// Changes after rev: relabel a out of the selector, create b, relabel a back, delete b.
	relabel := func(v string) {
		if _, err := st.GuaranteedUpdate(ctx, svcs, "default", "a", func(cur store.Object) (store.Object, store.Txn, error) {
			cur.SetLabels(map[string]string{"app": v})
			return cur, store.Txn{}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	relabel("y")
	if _, err := st.Create(ctx, svcs, service("default", "b", map[string]string{"app": "x"}), store.Txn{}); err != nil {
		t.Fatal(err)
	}
	relabel("x")
	if _, err := st.Delete(ctx, svcs, "default", "b", nil, nil); err != nil {
		t.Fatal(err)
	}
	ls, _ := labels.Parse("app=x")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch := st.Watch(wctx, svcs, "default", rev, store.Predicate{Label: ls}, false)
	want := []string{"DELETED a", "ADDED b", "ADDED a", "DELETED b"}
	for i, w := range want {
		select {
		case e := <-ch:
			if got := string(e.Type) + " " + e.Object.GetName(); got != w {
				t.Fatalf("event %d: got %q, want %q", i, got, w)
			}
		case <-wctx.Done():
			t.Fatalf("event %d (%s) never came", i, w)
		}
	}
}

func TestWatchCompactedRevisionIsGone(t *testing.T) {
	st, _ := newStore(t)
	ctx := t.Context()
	var last string
	for i := range 3 {
		o, err := st.Create(ctx, svcs, service("default", fmt.Sprint("s", i), nil), store.Txn{})
		if err != nil {
			t.Fatal(err)
		}
		last = o.GetResourceVersion()
	}
	rev, _ := store.ParseResourceVersion(last)
	if _, err := st.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	e := <-st.Watch(ctx, svcs, "", 1, store.Predicate{}, false)
	if e.Type != watch.Error || !apierrors.IsResourceExpired(e.Err) {
		t.Fatalf("watch from a compacted revision: got %v %v, want a 410 Expired error", e.Type, e.Err)
	}
}
