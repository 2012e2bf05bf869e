package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
)

// Event is one change to an object, as a watch reports it.
type Event struct {
	Type watch.EventType // watch.Added, Modified, Deleted, Bookmark or Error (and Relisted from a Cache)
	// Object is the object after the change; for Deleted, its last state with
	// the deletion's revision as resourceVersion.
	Object Object
	// Old is the object before the change (Modified and Deleted), when known.
	Old Object
	// Revision is the etcd revision of the change.
	Revision int64
	// Err is set for Error events: a Kubernetes API error (410 Gone when the
	// revision asked for has been compacted).
	Err error
}

// Watch streams the changes to r's objects in namespace ("" for all) that
// happen after revision rev (0: from now) and that pred selects. An update
// that makes an object stop (start) matching pred is reported as Deleted
// (Added), as Kubernetes does. progress asks for Bookmark events carrying the
// newest revision while nothing changes.
//
// The channel closes when ctx ends or after an Error event. A watch survives an
// etcd restart: the client resumes it from the last revision it delivered.
func (s *Store) Watch(ctx context.Context, r *api.Resource, namespace string, rev int64, pred Predicate, progress bool) <-chan Event {
	return s.watch(ctx, r, namespace, rev, pred, progress, true)
}

// watch is Watch; without withPrev, etcd sends no previous values and events
// carry no Old: a Deleted event's Object has only its namespace, name and
// the deletion's revision. A Cache, which holds the previous values itself,
// watches that way and decodes each change once instead of twice.
func (s *Store) watch(ctx context.Context, r *api.Resource, namespace string, rev int64, pred Predicate, progress, withPrev bool) <-chan Event {
	out := make(chan Event, 100)
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if withPrev {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev+1))
	}
	if progress {
		opts = append(opts, clientv3.WithProgressNotify())
	}
	ctx, cancel := context.WithCancel(ctx)
	wch := s.client.Watch(clientv3.WithRequireLeader(ctx), r.ListPrefix(namespace), opts...)
	go func() {
		defer close(out)
		defer cancel()
		send := func(e Event) bool {
			select {
			case out <- e:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			resp, ok := <-wch
			if !ok {
				if ctx.Err() == nil {
					send(Event{Type: watch.Error, Err: apierrors.NewServiceUnavailable("etcd watch closed")})
				}
				return
			}
			if err := resp.Err(); err != nil {
				send(Event{Type: watch.Error, Err: watchError(err, rev)})
				return
			}
			if resp.IsProgressNotify() {
				if !send(Event{Type: watch.Bookmark, Revision: resp.Header.Revision}) {
					return
				}
				continue
			}
			for _, ev := range resp.Events {
				var e Event
				var ok bool
				var err error
				if withPrev {
					e, ok, err = s.translate(r, ev, pred)
				} else {
					e, ok, err = s.translateBare(r, ev)
				}
				if err != nil {
					send(Event{Type: watch.Error, Err: apierrors.NewInternalError(err)})
					return
				}
				if ok && !send(e) {
					return
				}
			}
		}
	}()
	return out
}

func watchError(err error, rev int64) error {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", rev))
	}
	if errors.Is(err, rpctypes.ErrNoLeader) {
		return apierrors.NewServiceUnavailable("etcd has no leader")
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("etcd watch: %v", err))
}

// translate turns one etcd event into the event a watcher with pred sees.
func (s *Store) translate(r *api.Resource, ev *clientv3.Event, pred Predicate) (Event, bool, error) {
	rev := ev.Kv.ModRevision
	var cur, old Object
	var err error
	if ev.PrevKv != nil {
		if old, err = s.decode(r, ev.PrevKv.Key, ev.PrevKv.Value, ev.PrevKv.ModRevision); err != nil {
			return Event{}, false, err
		}
	}
	if ev.Type == mvccpb.DELETE {
		if old == nil {
			return Event{}, false, nil
		}
		gone := old.DeepCopyObject().(Object)
		gone.SetResourceVersion(strconv.FormatInt(rev, 10))
		return Event{Type: watch.Deleted, Object: gone, Old: old, Revision: rev}, pred.Matches(r, old), nil
	}
	if cur, err = s.decode(r, ev.Kv.Key, ev.Kv.Value, rev); err != nil {
		return Event{}, false, err
	}
	nowMatches := pred.Matches(r, cur)
	wasMatching := old != nil && pred.Matches(r, old)
	switch {
	case old == nil || ev.IsCreate():
		return Event{Type: watch.Added, Object: cur, Revision: rev}, nowMatches, nil
	case nowMatches && wasMatching:
		return Event{Type: watch.Modified, Object: cur, Old: old, Revision: rev}, true, nil
	case nowMatches:
		return Event{Type: watch.Added, Object: cur, Old: old, Revision: rev}, true, nil
	case wasMatching:
		return Event{Type: watch.Deleted, Object: cur, Old: old, Revision: rev}, true, nil
	}
	return Event{}, false, nil
}

// translateBare turns an etcd event without its previous value into an
// event; see watch.
func (s *Store) translateBare(r *api.Resource, ev *clientv3.Event) (Event, bool, error) {
	rev := ev.Kv.ModRevision
	if ev.Type == mvccpb.DELETE {
		gone := r.New()
		ns, name := r.SplitKey(string(ev.Kv.Key))
		gone.SetNamespace(ns)
		gone.SetName(name)
		gone.SetResourceVersion(strconv.FormatInt(rev, 10))
		return Event{Type: watch.Deleted, Object: gone, Revision: rev}, true, nil
	}
	cur, err := s.decode(r, ev.Kv.Key, ev.Kv.Value, rev)
	if err != nil {
		return Event{}, false, err
	}
	if ev.IsCreate() {
		return Event{Type: watch.Added, Object: cur, Revision: rev}, true, nil
	}
	return Event{Type: watch.Modified, Object: cur, Revision: rev}, true, nil
}
