package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// initialEventsEnd is the annotation on the bookmark that ends the initial
// events of a watch-list (sendInitialEvents=true), which client-go
// informers wait for before they call themselves synced.
const initialEventsEnd = "k8s.io/initial-events-end"

// bookmarkEvery is how long a watch that asked for bookmarks may stay
// silent before it gets one with the newest revision it has seen.
const bookmarkEvery = 5 * time.Second

type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// watchPlan is what a watch request asks for.
type watchPlan struct {
	pred      store.Predicate
	from      int64 // stream changes after this revision
	initial   bool  // first send the current state as ADDED events
	endMarker bool  // then a bookmark annotated initial-events-end
	bookmarks bool
	timeout   time.Duration
}

func planWatch(r *http.Request, ri requestInfo) (watchPlan, error) {
	q := r.URL.Query()
	var p watchPlan
	var err error
	if p.pred, err = predicate(r, ri); err != nil {
		return p, err
	}
	if ri.Name != "" {
		// The deprecated /watch/.../{name} form: a field selector on the name.
		p.pred.Field = fields.AndSelectors(p.pred.Field, fields.OneTermEqualSelector("metadata.name", ri.Name))
	}
	rv := q.Get("resourceVersion")
	if p.from, err = store.ParseResourceVersion(rv); err != nil {
		return p, err
	}
	p.bookmarks = isTrue(q.Get("allowWatchBookmarks"))
	// Unset or "0": "get state and start at most recent", as Kubernetes does:
	// synthetic ADDED events for what exists, then the changes.
	p.initial = p.from == 0
	switch q.Get("sendInitialEvents") {
	case "true":
		if !p.bookmarks {
			return p, apierrors.NewBadRequest("sendInitialEvents=true requires allowWatchBookmarks=true")
		}
		if m := q.Get("resourceVersionMatch"); m != "NotOlderThan" {
			return p, apierrors.NewBadRequest(fmt.Sprintf("sendInitialEvents=true requires resourceVersionMatch=NotOlderThan, got %q", m))
		}
		p.initial, p.endMarker = true, true
	case "false":
		p.initial = false
	}
	p.timeout = time.Duration(1800+rand.IntN(1800)) * time.Second
	if t := q.Get("timeoutSeconds"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return p, apierrors.NewBadRequest(fmt.Sprintf("timeoutSeconds: invalid value %q", t))
		}
		if n > 0 {
			p.timeout = time.Duration(n) * time.Second
		}
	}
	return p, nil
}

// watch streams newline-delimited JSON watch events until the client goes,
// the timeout passes, the server stops, or etcd reports an error (sent as an
// ERROR event with a Status, 410 Gone for a compacted resourceVersion).
func (s *Server) watch(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	plan, err := planWatch(r, ri)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), plan.timeout)
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.metrics.watches.Inc()
	defer s.metrics.watches.Dec()

	var initial []store.Object
	if plan.initial {
		res, err := s.store.List(ctx, ri.Info.Resource, ri.Namespace, store.ListOptions{Predicate: plan.pred})
		if err != nil {
			writeError(w, err)
			return
		}
		initial, plan.from = res.Items, res.Revision
	}
	events := s.store.Watch(ctx, ri.Info.Resource, ri.Namespace, plan.from, plan.pred, plan.bookmarks)

	enc := &eventEncoder{w: w, r: r, s: s, ri: ri, asTable: tableRequest(r)}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	for _, o := range initial {
		if enc.send(store.Event{Type: watch.Added, Object: o}) != nil {
			return
		}
	}
	if plan.endMarker {
		if enc.bookmark(plan.from, true) != nil {
			return
		}
	}
	enc.flush()
	// Bookmarks come from etcd's progress notifications when they arrive,
	// and from a timer on a quiet watch: etcd's interval is a setting of the
	// etcd cluster (10 minutes by default) that Shoal does not control.
	lastRev, lastSent := plan.from, time.Now()
	var tick <-chan time.Time
	if plan.bookmarks {
		t := time.NewTicker(bookmarkEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if time.Since(lastSent) >= bookmarkEvery && lastRev > 0 {
				if enc.bookmark(lastRev, false) != nil {
					return
				}
				enc.flush()
				lastSent = time.Now()
			}
		case e, ok := <-events:
			if !ok {
				return
			}
			if e.Revision > lastRev {
				lastRev = e.Revision
			}
			lastSent = time.Now()
			var err error
			switch e.Type {
			case watch.Bookmark:
				err = enc.bookmark(e.Revision, false)
			case watch.Error:
				err = enc.write(watchEvent{Type: watch.Error, Object: statusOf(e.Err)})
			default:
				err = enc.send(e)
			}
			if err != nil || e.Type == watch.Error {
				return
			}
			// Flush when the burst is over, not after every event.
			if len(events) == 0 {
				enc.flush()
			}
		}
	}
}

type eventEncoder struct {
	w       http.ResponseWriter
	r       *http.Request
	s       *Server
	ri      requestInfo
	asTable bool
	headed  bool // a Table event with column definitions has been sent
}

func (e *eventEncoder) send(ev store.Event) error {
	if !e.asTable {
		objs, err := external(e.ri, []store.Object{ev.Object})
		if err != nil {
			return err
		}
		return e.write(watchEvent{Type: ev.Type, Object: objs[0]})
	}
	t, err := e.s.table(e.r, e.ri, []store.Object{ev.Object})
	if err != nil {
		return err
	}
	t.ResourceVersion = ev.Object.GetResourceVersion()
	// Column definitions go with the first event only, as Kubernetes does.
	if e.headed {
		t.ColumnDefinitions = nil
	}
	e.headed = true
	return e.write(watchEvent{Type: ev.Type, Object: t})
}

func (e *eventEncoder) bookmark(rev int64, end bool) error {
	rv := strconv.FormatInt(rev, 10)
	if e.asTable {
		return e.write(watchEvent{Type: watch.Bookmark, Object: &metav1.Table{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}, ListMeta: metav1.ListMeta{ResourceVersion: rv}}})
	}
	obj := e.ri.wire().New()
	obj.GetObjectKind().SetGroupVersionKind(e.ri.wire().GroupVersionKind())
	obj.SetResourceVersion(rv)
	if end {
		obj.SetAnnotations(map[string]string{initialEventsEnd: "true"})
	}
	return e.write(watchEvent{Type: watch.Bookmark, Object: obj})
}

func (e *eventEncoder) write(ev watchEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = e.w.Write(b)
	return err
}

func (e *eventEncoder) flush() {
	if f, ok := e.w.(http.Flusher); ok {
		f.Flush()
	}
}
