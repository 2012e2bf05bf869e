package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Recorder writes core/v1 Events about objects, as Kubernetes' event
// recorder does: asynchronously (a controller never waits on an event), with
// repeats of the same event folded into one whose count goes up.
type Recorder struct {
	reg       *registry.Registry
	component string
	log       *slog.Logger
	queue     chan *corev1.Event

	mu   sync.Mutex
	seen map[string]string // dedupe key → event name, for counting repeats

	// dropped counts events lost to a full queue since the last warning,
	// which is logged at most once per dropWarnEvery.
	dropped  atomic.Int64
	lastWarn atomic.Int64 // unix nanoseconds
}

// dropWarnEvery bounds the warnings about a full event queue: a burst of
// thousands of pods would otherwise log one line per lost event.
const dropWarnEvery = 10 * time.Second

// NewRecorder returns a recorder reporting as component (the event source).
func NewRecorder(reg *registry.Registry, component string, log *slog.Logger) *Recorder {
	return &Recorder{reg: reg, component: component, log: log, queue: make(chan *corev1.Event, 1000), seen: map[string]string{}}
}

// Eventf records an event of type (corev1.EventTypeNormal or Warning) about
// obj, a kind of info.
func (r *Recorder) Eventf(obj store.Object, info *registry.Info, eventType, reason, format string, args ...any) {
	if r == nil {
		return
	}
	now := metav1.NewTime(time.Now())
	ns := obj.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	e := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s.%x", obj.GetName(), now.UnixNano())},
		InvolvedObject: corev1.ObjectReference{
			Kind: info.Kind, APIVersion: info.GroupVersion.String(), Namespace: obj.GetNamespace(),
			Name: obj.GetName(), UID: obj.GetUID(), ResourceVersion: obj.GetResourceVersion(),
		},
		Reason: reason, Message: fmt.Sprintf(format, args...), Type: eventType,
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		Source:              corev1.EventSource{Component: r.component},
		ReportingController: "shoal.io/" + r.component,
	}
	select {
	case r.queue <- e:
	default:
		n := r.dropped.Add(1)
		now := time.Now().UnixNano()
		if last := r.lastWarn.Load(); now-last >= int64(dropWarnEvery) && r.lastWarn.CompareAndSwap(last, now) {
			r.dropped.Add(-n)
			r.log.Warn("event queue full; dropping events", "dropped", n, "latest_reason", reason, "latest_object", Key(obj))
		}
	}
}

// Run writes queued events until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-r.queue:
			if err := r.write(ctx, e); err != nil && ctx.Err() == nil {
				r.log.Info("write event", "reason", e.Reason, "err", err)
			}
		}
	}
}

func (r *Recorder) write(ctx context.Context, e *corev1.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	key := string(e.InvolvedObject.UID) + "|" + e.Reason + "|" + e.Message
	r.mu.Lock()
	name, repeat := r.seen[key]
	r.mu.Unlock()
	if repeat {
		_, err := r.reg.Update(ctx, registry.Events, e.Namespace, name, "", func(cur store.Object) (store.Object, error) {
			c := cur.(*corev1.Event)
			c.Count++
			c.LastTimestamp = e.LastTimestamp
			c.ResourceVersion = ""
			return c, nil
		}, registry.WriteOptions{})
		if err == nil {
			return nil
		}
		// Gone (expired or deleted): write a new one.
	}
	if _, err := r.reg.Create(ctx, registry.Events, e, registry.WriteOptions{}); err != nil {
		return err
	}
	r.mu.Lock()
	if len(r.seen) > 10000 {
		clear(r.seen)
	}
	r.seen[key] = e.Name
	r.mu.Unlock()
	return nil
}
