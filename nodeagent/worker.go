package nodeagent

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoalmesh/shoal/nodeagent/network"
	"github.com/shoalmesh/shoal/nodeagent/probe"
	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
)

// Retry delays of a pod's network set-up and status writes.
const (
	retryBase = 500 * time.Millisecond
	retryMax  = 30 * time.Second
	// resyncInterval wakes every worker now and then, so that a status
	// someone else changed (the node lifecycle controller marks pods not
	// ready) is corrected even when nothing happens on the node.
	resyncInterval = 30 * time.Second
)

// podWorker runs one pod (one UID) on its own goroutine, like kubelet's pod
// workers: it sets up the pod's network, starts, restarts and probes its
// containers, writes its status, and stops it when it is deleted.
type podWorker struct {
	a         *Agent
	uid       types.UID
	namespace string
	name      string
	// containers are the names of the pod's containers (immutable).
	containers []string
	log        *slog.Logger
	wakeCh     chan struct{}
	done       chan struct{}

	mu          sync.Mutex
	pod         *corev1.Pod // the latest seen
	gone        bool        // deleted from the API (the informer says so)
	kills       map[string]probe.Update
	runs        []*noderuntime.Container // running, for load reports
	hostNetwork bool
	// state is written under mu by the worker goroutine (podWorker.to),
	// which reads it without the lock; others read it under mu.
	state podState

	// Owned by the worker goroutine (and by shutdown once it has exited).
	ctrs       []*ctr
	sandbox    *network.Sandbox
	netErr     error
	netRetry   retry
	startTime  time.Time
	delRetry   retry
	statRetry  retry
	warnedVols bool
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

// newPodWorker prepares the worker of pod, with the runs of its containers
// that a previous agent left (adopted) and what its status says.
func newPodWorker(a *Agent, pod *corev1.Pod, adopted []*noderuntime.Container) *podWorker {
	w := &podWorker{
		a: a, uid: pod.UID, namespace: pod.Namespace, name: pod.Name,
		log:    a.log.With("pod", pod.Namespace+"/"+pod.Name, "uid", pod.UID),
		wakeCh: make(chan struct{}, 1), done: make(chan struct{}),
		pod: pod, kills: map[string]probe.Update{}, hostNetwork: pod.Spec.HostNetwork,
	}
	if pod.Status.StartTime != nil {
		w.startTime = pod.Status.StartTime.Time
	}
	for i := range pod.Spec.Containers {
		c := &ctr{spec: pod.Spec.Containers[i]}
		for j := range pod.Status.ContainerStatuses {
			if cs := &pod.Status.ContainerStatuses[j]; cs.Name == c.spec.Name {
				c.restore(cs)
			}
		}
		w.ctrs = append(w.ctrs, c)
		w.containers = append(w.containers, c.spec.Name)
	}
	for _, run := range adopted {
		c := w.ctr(run.Spec().Name)
		if c == nil {
			// Not a container of the pod (its spec cannot change): stop it.
			a.background(func(ctx context.Context) { stopRun(ctx, run, 0) })
			continue
		}
		c.adopt(run)
		w.watch(run)
		if !done(run) {
			w.log.Info("adopted container", "container", c.spec.Name, "pid", run.Pid())
		}
	}
	now := time.Now()
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	for _, c := range w.ctrs {
		switch {
		case c.run != nil:
		case c.lost && !terminal:
			c.ended(lostRun(now))
			c.afterExit(pod.Spec.RestartPolicy, now)
		case c.last != nil && c.everRan:
			c.afterExit(pod.Spec.RestartPolicy, now)
			c.notBefore = now // the back-off ran while the agent was away
		}
	}
	// A pod that ended stays ended: an agent restart runs nothing of it.
	if terminal {
		w.state = podEnding
	}
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

// update hands the worker a newer version of its pod.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	if newer(pod, w.pod) {
		w.pod = pod
	}
	w.mu.Unlock()
	w.wake()
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
// startup failure kills the run it is about; any change syncs the status.
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

// loadView is what a load report needs of the pod.
type loadView struct {
	runs        []*noderuntime.Container
	hostNetwork bool
}

func (w *podWorker) loadView() loadView {
	w.mu.Lock()
	defer w.mu.Unlock()
	return loadView{runs: w.runs, hostNetwork: w.hostNetwork}
}

// publish makes the running containers visible to load reports.
func (w *podWorker) publish() {
	var runs []*noderuntime.Container
	for _, c := range w.ctrs {
		if c.alive() {
			runs = append(runs, c.run)
		}
	}
	w.mu.Lock()
	w.runs = runs
	w.mu.Unlock()
}

// watch wakes the worker when run ends.
func (w *podWorker) watch(run *noderuntime.Container) {
	ctx := w.a.runCtx
	go func() {
		select {
		case <-run.Done():
			w.wake()
		case <-ctx.Done():
		}
	}()
}

// run syncs the pod whenever something changes, until it is gone or the
// agent stops.
func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
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
