package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// event is one line of a watch stream.
type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
	meta   metav1.PartialObjectMetadata
}

// stream reads a watch response line by line: each line must be one JSON
// event.
type stream struct {
	t      *testing.T
	events chan event
}

// watch opens path (which must ask for watch=true) with the admin token.
func (a *api) watch(path string, headers ...string) *stream {
	a.t.Helper()
	ctx, cancel := context.WithCancel(a.t.Context())
	a.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.admin)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("watch %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var b [4096]byte
		n, _ := resp.Body.Read(b[:])
		resp.Body.Close()
		a.t.Fatalf("watch %s: code %d: %s", path, resp.StatusCode, b[:n])
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		a.t.Errorf("watch Content-Type %q, want application/json", ct)
	}
	s := &stream{t: a.t, events: make(chan event, 1000)}
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = event{Type: "UNPARSABLE LINE: " + sc.Text()}
			} else {
				json.Unmarshal(ev.Object, &ev.meta)
			}
			select {
			case s.events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

// next returns the next event, failing the test if none comes soon.
func (s *stream) next() event {
	s.t.Helper()
	return s.nextWithin(10 * time.Second)
}

// nextWithin is next with a bound of d.
func (s *stream) nextWithin(d time.Duration) event {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("watch stream ended")
		}
		return ev
	case <-time.After(d):
		s.t.Fatalf("no watch event within %v", d)
	}
	return event{}
}

// expect reads the next event and checks its type and object name.
func (s *stream) expect(typ, name string) event {
	s.t.Helper()
	ev := s.next()
	if ev.Type != typ || ev.meta.Name != name {
		s.t.Fatalf("event %s %q, want %s %q: %s", ev.Type, ev.meta.Name, typ, name, ev.Object)
	}
	return ev
}

// skipBookmarks returns the next event that is not a BOOKMARK.
func (s *stream) skipBookmarks() event {
	s.t.Helper()
	for {
		if ev := s.next(); ev.Type != "BOOKMARK" {
			return ev
		}
	}
}

// ended waits for the server to end the stream.
func (s *stream) ended() {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			s.t.Fatalf("event %s after the end: %s", ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		s.t.Fatal("watch stream did not end within 10s")
	}
}

// create creates a Service and returns it as stored.
func (a *api) createService(ns, name string, labels map[string]string) *corev1.Service {
	a.t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	var out corev1.Service
	a.do("POST", "/api/v1/namespaces/"+ns+"/services", mustJSON(a.t, svc)).must(a.t, http.StatusCreated).into(a.t, &out)
	return &out
}

func (a *api) mergePatch(path, patch string) reply {
	a.t.Helper()
	return a.do("PATCH", path, patch, "Content-Type", "application/merge-patch+json")
}

func rvOf(t *testing.T, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", rv, err)
	}
	return n
}

func TestWatch(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("w")
	const svcs = "/api/v1/namespaces/w/services"

	t.Run("events from a list's resourceVersion", func(t *testing.T) {
		a := *a
		a.t = t
		var l corev1.ServiceList
		a.do("GET", svcs, "").must(t, 200).into(t, &l)
		s := a.watch(svcs + "?watch=true&resourceVersion=" + l.ResourceVersion)
		created := a.createService("w", "one", nil)
		a.mergePatch(svcs+"/one", `{"metadata":{"labels":{"x":"y"}}}`).must(t, 200)
		a.do("DELETE", svcs+"/one", "").must(t, 200)

		ev := s.expect("ADDED", "one")
		var got corev1.Service
		if err := json.Unmarshal(ev.Object, &got); err != nil || got.Kind != "Service" || got.APIVersion != "v1" || got.Spec.ClusterIP != created.Spec.ClusterIP {
			t.Errorf("ADDED object = %s, want the typed Service (err %v)", ev.Object, err)
		}
		if ev.meta.ResourceVersion != created.ResourceVersion {
			t.Errorf("ADDED resourceVersion %s, want %s", ev.meta.ResourceVersion, created.ResourceVersion)
		}
		mod := s.expect("MODIFIED", "one")
		if mod.meta.Labels["x"] != "y" {
			t.Errorf("MODIFIED labels %v", mod.meta.Labels)
		}
		del := s.expect("DELETED", "one")
		if rvOf(t, del.meta.ResourceVersion) <= rvOf(t, mod.meta.ResourceVersion) {
			t.Errorf("DELETED resourceVersion %s not after MODIFIED %s", del.meta.ResourceVersion, mod.meta.ResourceVersion)
		}
	})

	t.Run("resume from a resourceVersion", func(t *testing.T) {
		a := *a
		a.t = t
		first := a.createService("w", "r1", nil)
		a.createService("w", "r2", nil)
		a.mergePatch(svcs+"/r1", `{"metadata":{"labels":{"v":"2"}}}`).must(t, 200)
		s := a.watch(svcs + "?watch=true&resourceVersion=" + first.ResourceVersion)
		// Only what happened after first: r1's creation is not replayed.
		s.expect("ADDED", "r2")
		s.expect("MODIFIED", "r1")
		a.createService("w", "r3", nil)
		s.expect("ADDED", "r3")
	})

	t.Run("no resourceVersion sends the current state first", func(t *testing.T) {
		a := *a
		a.t = t
		s := a.watch(svcs + "?watch=true&labelSelector=v%3D2")
		s.expect("ADDED", "r1")
		a.createService("w", "r4", map[string]string{"v": "2"})
		s.expect("ADDED", "r4")
	})

	t.Run("watch-list handshake", func(t *testing.T) {
		a := *a
		a.t = t
		a.createNamespace("wl")
		var newest int64
		for _, n := range []string{"a", "b", "c"} {
			newest = max(newest, rvOf(t, a.createService("wl", n, nil).ResourceVersion))
		}
		s := a.watch("/api/v1/namespaces/wl/services?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
		var names []string
		for range 3 {
			ev := s.next()
			if ev.Type != "ADDED" {
				t.Fatalf("initial event %s, want ADDED: %s", ev.Type, ev.Object)
			}
			names = append(names, ev.meta.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"a", "b", "c"}) {
			t.Errorf("initial events for %q, want a, b, c", names)
		}
		bm := s.next()
		if bm.Type != "BOOKMARK" || bm.meta.Annotations["k8s.io/initial-events-end"] != "true" {
			t.Fatalf("after the initial events: %s %s, want a BOOKMARK annotated k8s.io/initial-events-end", bm.Type, bm.Object)
		}
		if bm.meta.Kind != "Service" || bm.meta.APIVersion != "v1" || rvOf(t, bm.meta.ResourceVersion) < newest {
			t.Errorf("bookmark %s: want a v1 Service with resourceVersion >= %d", bm.Object, newest)
		}
		a.createService("wl", "d", nil)
		s.expect("ADDED", "d")
	})

	t.Run("watch-list handshake with nothing to send", func(t *testing.T) {
		a := *a
		a.t = t
		a.createNamespace("empty")
		s := a.watch("/api/v1/namespaces/empty/services?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
		if bm := s.next(); bm.Type != "BOOKMARK" || bm.meta.Annotations["k8s.io/initial-events-end"] != "true" {
			t.Fatalf("first event %s %s, want the initial-events-end BOOKMARK", bm.Type, bm.Object)
		}
	})

	t.Run("watch-list handshake errors", func(t *testing.T) {
		a := *a
		a.t = t
		// client-go falls back to list+watch on these; a silently ignored
		// sendInitialEvents would leave an informer never synced.
		a.do("GET", svcs+"?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan", "").
			wantStatus(t, 400, metav1.StatusReasonBadRequest, "allowWatchBookmarks")
		a.do("GET", svcs+"?watch=true&sendInitialEvents=true&allowWatchBookmarks=true", "").
			wantStatus(t, 400, metav1.StatusReasonBadRequest, "resourceVersionMatch")
	})

	t.Run("label selector", func(t *testing.T) {
		a := *a
		a.t = t
		s := a.watch(svcs + "?watch=true&resourceVersion=" + a.listRV(svcs) + "&labelSelector=app%3Dweb")
		a.createService("w", "l1", map[string]string{"app": "web"})
		a.createService("w", "l2", map[string]string{"app": "db"})
		a.mergePatch(svcs+"/l1", `{"metadata":{"labels":{"app":"db"}}}`).must(t, 200)
		a.mergePatch(svcs+"/l2", `{"metadata":{"labels":{"app":"web"}}}`).must(t, 200)
		a.mergePatch(svcs+"/l2", `{"metadata":{"labels":{"tier":"1"}}}`).must(t, 200)
		a.do("DELETE", svcs+"/l1", "").must(t, 200)
		a.do("DELETE", svcs+"/l2", "").must(t, 200)
		s.expect("ADDED", "l1")
		if left := s.expect("DELETED", "l1"); left.meta.Labels["app"] != "db" {
			t.Errorf("DELETED on leaving the selector carries labels %v, want the new ones", left.meta.Labels)
		}
		s.expect("ADDED", "l2") // entered the selector
		s.expect("MODIFIED", "l2")
		s.expect("DELETED", "l2")
	})

	t.Run("field selector", func(t *testing.T) {
		a := *a
		a.t = t
		const pods = "/api/v1/namespaces/w/pods"
		s := a.watch(pods + "?watch=true&resourceVersion=" + a.listRV(pods) + "&fieldSelector=status.phase%3DPending")
		names := a.watch(svcs + "?watch=true&resourceVersion=" + a.listRV(svcs) + "&fieldSelector=metadata.name%3Df2")
		// A scheduler nobody runs: the pod's only changes are the test's.
		pod := `{"metadata":{"name":"p"},"spec":{"schedulerName":"none","containers":[{"name":"c","image":"busybox"}]}}`
		a.do("POST", pods, pod).must(t, http.StatusCreated)
		a.mergePatch(pods+"/p/status", `{"status":{"phase":"Running"}}`).must(t, 200)
		a.mergePatch(pods+"/p/status", `{"status":{"phase":"Pending"}}`).must(t, 200)
		a.do("DELETE", pods+"/p", "").must(t, 200)
		s.expect("ADDED", "p")
		if left := s.expect("DELETED", "p"); !bytes.Contains(left.Object, []byte(`"phase":"Running"`)) {
			t.Errorf("DELETED on leaving the selector: %s, want the Running pod", left.Object)
		}
		s.expect("ADDED", "p")
		s.expect("DELETED", "p")

		a.createService("w", "f1", nil)
		a.createService("w", "f2", nil)
		names.expect("ADDED", "f2")
	})

	t.Run("Table", func(t *testing.T) {
		a := *a
		a.t = t
		s := a.watch(svcs+"?watch=true&resourceVersion="+a.listRV(svcs), "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		a.createService("w", "t1", nil)
		a.mergePatch(svcs+"/t1", `{"metadata":{"labels":{"x":"y"}}}`).must(t, 200)
		for i, typ := range []string{"ADDED", "MODIFIED"} {
			ev := s.next()
			var tbl metav1.Table
			if err := json.Unmarshal(ev.Object, &tbl); err != nil {
				t.Fatal(err)
			}
			if ev.Type != typ || tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" || len(tbl.Rows) != 1 || len(tbl.Rows[0].Cells) == 0 || tbl.Rows[0].Cells[0] != "t1" {
				t.Fatalf("event %d: %s %s, want %s with a Table of one row for t1", i, ev.Type, ev.Object, typ)
			}
			if (i == 0) != (len(tbl.ColumnDefinitions) > 0) {
				t.Errorf("event %d has %d column definitions; want them on the first event only", i, len(tbl.ColumnDefinitions))
			}
			if tbl.ResourceVersion == "" {
				t.Errorf("event %d: Table without resourceVersion", i)
			}
		}
	})

	t.Run("timeoutSeconds ends the stream", func(t *testing.T) {
		a := *a
		a.t = t
		s := a.watch(svcs + "?watch=true&timeoutSeconds=1&resourceVersion=" + a.listRV(svcs))
		s.ended()
	})
}

// listRV is the resourceVersion of a list of path.
func (a *api) listRV(path string) string {
	a.t.Helper()
	var l metav1.List
	a.do("GET", path, "").must(a.t, 200).into(a.t, &l)
	return l.ResourceVersion
}

// TestWatchCompacted: a watch from a compacted resourceVersion gets an ERROR
// event carrying a 410 Status, which makes client-go relist.
func TestWatchCompacted(t *testing.T) {
	e := storetest.StartEtcd(t)
	a := startAPI(t, clustertest.Options{EtcdServers: []string{e.ClientURL}})
	first := a.createService("default", "c1", nil)
	a.createService("default", "c2", nil)
	c := e.Client(t)
	// One more revision after c2's, so that the compaction removes
	// first+1 (compacting at first+1 itself would leave it watchable).
	resp, err := c.Put(t.Context(), "/compact-probe", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compact(t.Context(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}

	s := a.watch("/api/v1/namespaces/default/services?watch=true&resourceVersion=" + first.ResourceVersion)
	ev := s.next()
	var st metav1.Status
	if err := json.Unmarshal(ev.Object, &st); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "ERROR" || st.Kind != "Status" || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("event %s %s, want ERROR with a 410 Expired Status", ev.Type, ev.Object)
	}
	s.ended()

	// A list at the compacted revision is 410 too; the current state is fine.
	a.do("GET", "/api/v1/namespaces/default/services?resourceVersionMatch=Exact&resourceVersion="+first.ResourceVersion, "").
		wantStatus(t, http.StatusGone, metav1.StatusReasonExpired)
	s = a.watch("/api/v1/namespaces/default/services?watch=true&resourceVersion=" + a.listRV("/api/v1/namespaces/default/services"))
	a.createService("default", "c3", nil)
	s.expect("ADDED", "c3")
}

// TestWatchBookmarks: allowWatchBookmarks brings BOOKMARK events (from
// etcd's progress notifications) while nothing changes; without it none.
func TestWatchBookmarks(t *testing.T) {
	cfg := storetest.Config(t.TempDir(), "", "")
	cfg.WatchProgressNotifyInterval = 100 * time.Millisecond
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(etcd.Close)
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	a := startAPI(t, clustertest.Options{EtcdServers: []string{"http://" + etcd.Clients[0].Addr().String()}})
	const svcs = "/api/v1/namespaces/default/services"
	created := a.createService("default", "b1", nil)

	with := a.watch(svcs + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + created.ResourceVersion)
	without := a.watch(svcs + "?watch=true&resourceVersion=" + created.ResourceVersion)
	for range 2 {
		// Bookmarks ride on etcd's progress notifications, which a loaded
		// machine (the whole suite under -race on 2 cores) can delay.
		bm := with.nextWithin(30 * time.Second)
		if bm.Type != "BOOKMARK" {
			t.Fatalf("event %s %s, want a BOOKMARK", bm.Type, bm.Object)
		}
		var svc corev1.Service
		json.Unmarshal(bm.Object, &svc)
		if bm.meta.Kind != "Service" || bm.meta.Name != "" || len(svc.Spec.Ports) > 0 || rvOf(t, bm.meta.ResourceVersion) < rvOf(t, created.ResourceVersion) {
			t.Errorf("bookmark %s: want an empty Service carrying only a resourceVersion >= %s", bm.Object, created.ResourceVersion)
		}
	}
	a.createService("default", "b2", nil)
	with.skipBookmarks()
	// The watch without bookmarks saw nothing before b2, though bookmarks
	// were due meanwhile.
	without.expect("ADDED", "b2")
}
