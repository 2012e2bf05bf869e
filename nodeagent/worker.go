package nodeagent

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// Retry delays of a pod's sandbox set-up and status writes.
const (
	retryBase = 500 * time.Millisecond
	retryMax  = 30 * time.Second
	// resyncInterval wakes every worker now and then, so that a status
	// someone else changed (the node lifecycle controller marks pods not
	// ready) is corrected even when nothing happens on the node.
	resyncInterval = 30 * time.Second
)

// podWorker runs one pod (one UID) on its own goroutine, like kubelet's pod
// workers: it runs the pod's sandbox, its init containers in order and then
// its app containers, restarts and probes them, writes its status, and
// stops it when it is deleted.
type podWorker struct {
	a         *Agent
	uid       types.UID
	namespace string
	name      string
	log       *slog.Logger
	wakeCh    chan struct{}
	done      chan struct{}

	mu   sync.Mutex
	pod  *corev1.Pod // the latest seen
	gone bool        // deleted from the API (the informer says so)
	// volStale: a ConfigMap or Secret the pod's volumes mount changed,
	// or its labels or annotations (downward API): rewrite them.
	volStale bool
	kills    map[string]probe.Update
	view     podView // what other goroutines see of the pod (publish)
	// state is written under mu by the worker goroutine (podWorker.to),
	// which reads it without the lock; others read it under mu.
	state podState

	// Owned by the worker goroutine (and by shutdown once it has exited).
	ctrs       []*ctr // init containers in order, then app containers
	sandbox    *sandbox
	sbErr      error
	sbRetry    retry
	volumes    *podVolumes
	tokens     map[string]saToken // projected service account tokens held
	volRefresh time.Time          // when volume contents are due again (tokens)
	startTime  time.Time
	delRetry   retry
	statRetry  retry
}

// podView is what other goroutines (load reports, logs, the stream
// server) see of a pod, published by its worker after each sync.
type podView struct {
	podIP       netip.Addr
	sandboxID   string
	sandboxPid  int
	hostNetwork bool
	running     int                // containers running
	containers  map[string]ctrView // by name
}

// ctrView is what others see of one container.
type ctrView struct {
	init     bool
	id       string // the running instance's, "" if none
	attempt  uint32 // the running instance's, or the last one's
	ran      bool   // an instance ran: it has a log
	running  bool
	restarts int32
	// ended is a container that ended for good (state terminated): its
	// previous log is the one before its last.
	ended bool
}

// retry is a back-off for an operation that failed.
type retry struct {
	delay time.Duration
	at    time.Time
}

func (r *retry) fail(now time.Time) time.Time {
	r.delay = min(max(2*r.delay, retryBase), retryMax)
	r.at = now.Add(r.delay)
	return r.at
}

func (r *retry) ok()                        { *r = retry{} }
func (r *retry) due(now time.Time) bool     { return !now.Before(r.at) }
func (r *retry) pending(now time.Time) bool { return r.delay > 0 && now.Before(r.at) }

// newPodWorker prepares the worker of pod, with what its status says and
// what a previous agent left of it in the runtime (adopted).
func newPodWorker(a *Agent, pod *corev1.Pod, left *leftovers) *podWorker {
	w := &podWorker{
		a: a, uid: pod.UID, namespace: pod.Namespace, name: pod.Name,
		log:    a.log.With("pod", pod.Namespace+"/"+pod.Name, "uid", pod.UID),
		wakeCh: make(chan struct{}, 1), done: make(chan struct{}),
		pod: pod, kills: map[string]probe.Update{},
	}
	if pod.Status.StartTime != nil {
		w.startTime = pod.Status.StartTime.Time
	}
	add := func(spec corev1.Container, init bool, statuses []corev1.ContainerStatus) {
		c := &ctr{spec: spec, init: init}
		for j := range statuses {
			if cs := &statuses[j]; cs.Name == spec.Name {
				c.restore(cs)
			}
		}
		w.ctrs = append(w.ctrs, c)
	}
	for _, spec := range pod.Spec.InitContainers {
		add(spec, true, pod.Status.InitContainerStatuses)
	}
	for _, spec := range pod.Spec.Containers {
		add(spec, false, pod.Status.ContainerStatuses)
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if left != nil {
		w.adoptLeftovers(pod, left, terminal)
	}
	now := time.Now()
	for _, c := range w.ctrs {
		switch {
		case c.run != nil:
		case c.lost && !terminal:
			c.ended(lostRun(now))
			c.afterExit(c.policy(pod), now)
		case c.last != nil && c.everRan && !c.succeeded():
			c.afterExit(c.policy(pod), now)
			c.notBefore = now // the back-off ran while the agent was away
		}
	}
	// A pod that ended stays ended: an agent restart runs nothing of it.
	if terminal {
		w.state = podEnding
	}
	w.publish()
	return w
}

func (w *podWorker) ctr(name string) *ctr {
	for _, c := range w.ctrs {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}

// wake makes the worker sync soon.
func (w *podWorker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

// update hands the worker a newer version of its pod, and wakes it unless
// only the status changed (the agent's own writes, mostly): as the
// kubelet's pod workers, it does not sync again on those, so a status such
// as ErrImagePull stays until the worker's next due time.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	old := w.pod
	if newer(pod, w.pod) {
		if old != nil && (!maps.Equal(old.Labels, pod.Labels) || !maps.Equal(old.Annotations, pod.Annotations)) {
			w.volStale = true
		}
		w.pod = pod
	}
	w.mu.Unlock()
	if old == nil || !statusOnly(old, pod) {
		w.wake()
	}
}

// statusOnly reports whether b differs from a in its status and
// bookkeeping only.
func statusOnly(a, b *corev1.Pod) bool {
	return a.UID == b.UID && equality.Semantic.DeepEqual(a.Spec, b.Spec) &&
		a.DeletionTimestamp.Equal(b.DeletionTimestamp) &&
		ptr.Equal(a.DeletionGracePeriodSeconds, b.DeletionGracePeriodSeconds) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

// newer reports whether a is a later version of the pod than b, by
// resourceVersion (an etcd revision in Shoal).
func newer(a, b *corev1.Pod) bool {
	if b == nil {
		return true
	}
	ra, err1 := strconv.ParseUint(a.ResourceVersion, 10, 64)
	rb, err2 := strconv.ParseUint(b.ResourceVersion, 10, 64)
	if err1 != nil || err2 != nil {
		return a.ResourceVersion != b.ResourceVersion
	}
	return ra >= rb
}

// volumesChanged tells the worker that an object its volumes mount
// changed.
func (w *podWorker) volumesChanged() {
	w.mu.Lock()
	w.volStale = true
	w.mu.Unlock()
	w.wake()
}

// takeVolStale reports (and clears) whether the pod's volumes are stale.
func (w *podWorker) takeVolStale() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	stale := w.volStale
	w.volStale = false
	return stale
}

// markGone tells the worker its pod was deleted from the API.
func (w *podWorker) markGone() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.wake()
}

func (w *podWorker) snapshot() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.gone
}

func (w *podWorker) isTerminating() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone || w.state.stopping() || w.pod.DeletionTimestamp != nil
}

// probeUpdate takes a probe result that calls for action: a liveness or
// startup failure kills the instance it is about; any change syncs the
// status.
func (w *podWorker) probeUpdate(u probe.Update) {
	if u.Result == probe.Failure {
		pod, _ := w.snapshot()
		w.a.events.pod(pod, u.Container, corev1.EventTypeWarning, eventUnhealthy, "%s probe failed: %s", probeName(u.Kind), u.Output)
		if u.Kind == probe.Liveness || u.Kind == probe.Startup {
			w.mu.Lock()
			w.kills[u.Container] = u
			w.mu.Unlock()
		}
	}
	w.wake()
}

func probeName(k probe.Kind) string {
	switch k {
	case probe.Liveness:
		return "Liveness"
	case probe.Readiness:
		return "Readiness"
	default:
		return "Startup"
	}
}

// viewOf returns what others see of the pod.
func (w *podWorker) viewOf() podView {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.view
}

// publish makes the pod's sandbox and containers visible to load
// reports, logs and the stream server.
func (w *podWorker) publish() {
	v := podView{containers: make(map[string]ctrView, len(w.ctrs))}
	pod, _ := w.snapshot()
	v.hostNetwork = pod.Spec.HostNetwork
	if w.sandbox != nil {
		v.sandboxID, v.sandboxPid, v.podIP = w.sandbox.id, w.sandbox.pid, w.sandbox.ip
	}
	for _, c := range w.ctrs {
		cv := ctrView{init: c.init, ran: c.everRan, restarts: c.restarts, ended: c.final && c.last != nil}
		if c.alive() {
			v.running++
			cv.id, cv.attempt, cv.running = c.run.id, c.run.attempt, true
		} else {
			cv.attempt = uint32(max(c.restarts, 0))
		}
		v.containers[c.spec.Name] = cv
	}
	w.mu.Lock()
	w.view = v
	w.mu.Unlock()
}

// run syncs the pod whenever something changes, until it is gone or the
// agent stops.
func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	defer w.a.volWatches.forget(w.uid)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		start := time.Now()
		next, exit := w.sync(ctx)
		w.publish()
		w.a.metrics.syncSeconds.Observe(time.Since(start).Seconds())
		if exit {
			if ctx.Err() == nil {
				w.a.removeWorker(w)
			}
			return
		}
		wait := resyncInterval
		if !next.IsZero() {
			wait = min(wait, max(time.Until(next), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-w.wakeCh:
		case <-timer.C:
		}
	}
}
