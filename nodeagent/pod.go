package nodeagent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// sync brings the pod one step closer to what its spec says, and returns
// when it wants to run again (zero: only when something changes) and
// whether the worker is done.
func (w *podWorker) sync(ctx context.Context) (next time.Time, exit bool) {
	pod, gone := w.snapshot()
	if gone || pod.DeletionTimestamp != nil || w.state.stopping() { // stopping goes on
		return w.terminate(ctx, pod, gone)
	}
	now := time.Now()
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, c := range w.ctrs {
		w.reap(ctx, pod, c, now)
	}
	if w.state.hasEnded() {
		w.finish(ctx)
		if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			soonest(w.syncStatus(ctx, now)) // the write that ended it failed
		}
		return next, false
	}
	if w.startTime.IsZero() {
		w.startTime = now
	}
	// Follow the objects the volumes mount from before their first write
	// (a change after it wakes the worker), adopted pods too.
	w.a.volWatches.follow(w, pod)
	if w.sandbox == nil {
		if w.sbRetry.due(now) {
			soonest(w.setupSandbox(ctx, pod, now))
		} else {
			soonest(w.sbRetry.at)
		}
	}
	if w.sandbox != nil {
		if init := w.nextInit(); init != nil {
			soonest(w.maybeStart(ctx, pod, init, now))
		} else if !w.initFailed() {
			for _, c := range w.apps() {
				w.handleKill(ctx, pod, c)
				soonest(w.maybeStart(ctx, pod, c, now))
				if c.alive() && !c.probed {
					w.addProbes(c) // an adopted instance
				}
			}
		}
	}
	if w.sandbox != nil {
		if stale := w.takeVolStale(); stale || (!w.volRefresh.IsZero() && !now.Before(w.volRefresh)) {
			w.refreshVolumes(ctx, pod, now)
		}
		if !w.volRefresh.IsZero() {
			soonest(w.volRefresh)
		}
	}
	if ctx.Err() != nil {
		return next, true
	}
	if w.podDone() {
		w.to(podEnding)
		w.finish(ctx)
	}
	soonest(w.syncStatus(ctx, now))
	return next, false
}

// apps are the pod's app containers; inits its init containers, in order.
func (w *podWorker) apps() []*ctr {
	for i, c := range w.ctrs {
		if !c.init {
			return w.ctrs[i:]
		}
	}
	return nil
}

func (w *podWorker) inits() []*ctr { return w.ctrs[:len(w.ctrs)-len(w.apps())] }

// nextInit is the init container to run (or running) now: the first that
// has not succeeded, unless it failed for good. Nil once all are done.
func (w *podWorker) nextInit() *ctr {
	for _, c := range w.inits() {
		if c.succeeded() {
			continue
		}
		if c.final {
			return nil // failed, and the pod never restarts: initFailed
		}
		return c
	}
	return nil
}

// initFailed reports an init container that failed and will not run
// again: the pod has failed.
func (w *podWorker) initFailed() bool {
	for _, c := range w.inits() {
		if c.final && !c.succeeded() {
			return true
		}
	}
	return false
}

// initialized reports whether every init container has succeeded.
func (w *podWorker) initialized() bool {
	for _, c := range w.inits() {
		if !c.succeeded() {
			return false
		}
	}
	return true
}

// podDone reports whether the pod has ended for good: an init container
// failed for good, or every app container has ended and none will restart.
func (w *podWorker) podDone() bool {
	if w.initFailed() {
		return true
	}
	apps := w.apps()
	if len(apps) == 0 {
		return false
	}
	for _, c := range apps {
		if !c.final {
			return false
		}
	}
	return true
}

// syncStatus writes the pod's status if it changed, backing off after a
// failed write; it returns when to try again.
func (w *podWorker) syncStatus(ctx context.Context, now time.Time) time.Time {
	if w.statRetry.pending(now) {
		return w.statRetry.at
	}
	if err := w.writeStatus(ctx); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("write pod status", "err", err)
		}
		return w.statRetry.fail(now)
	}
	w.statRetry.ok()
	return time.Time{}
}

// setupSandbox prepares the pod's volumes and runs its sandbox; it returns
// when to try again after a failure.
func (w *podWorker) setupSandbox(ctx context.Context, pod *corev1.Pod, now time.Time) time.Time {
	fail := func(reason string, err error) time.Time {
		if ctx.Err() != nil {
			return time.Time{}
		}
		w.sbErr = err
		w.log.Warn("set up pod", "err", err)
		w.a.events.pod(pod, "", corev1.EventTypeWarning, reason, "%v", err)
		return w.sbRetry.fail(now)
	}
	if w.volumes == nil {
		vols, err := w.a.setupVolumes(pod)
		if err != nil {
			return fail(eventFailedMount, err)
		}
		w.volumes = vols
	}
	if err := w.writeVolumeContents(ctx, pod, apiObjects{ctx: ctx, client: w.a.client, namespace: pod.Namespace}, now); err != nil {
		return fail(eventFailedMount, err)
	}
	sb, err := w.runSandbox(ctx, pod)
	if err != nil {
		return fail(eventSandbox, err)
	}
	if err := w.volumes.writeHosts(pod, sb.ip, w.a.cfg.ClusterDomain); err != nil {
		w.a.removeSandbox(ctx, sb.id)
		return fail(eventSandbox, err)
	}
	w.sandbox, w.sbErr = sb, nil
	w.sbRetry.ok()
	return time.Time{}
}

// refreshVolumes writes the pod's volume contents again when an object
// they mount changed (volumeWatches), its labels or annotations changed,
// or a projected token is due for renewal; each volume is replaced
// atomically, and only when its contents differ. A failure (a ConfigMap
// deleted) keeps the old contents and is retried 10 s later.
func (w *podWorker) refreshVolumes(ctx context.Context, pod *corev1.Pod, now time.Time) {
	if err := w.writeVolumeContents(ctx, pod, apiObjects{ctx: ctx, client: w.a.client, namespace: pod.Namespace}, now); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("refresh pod volumes", "err", err)
			w.a.events.pod(pod, "", corev1.EventTypeWarning, eventFailedMount, "%v", err)
		}
		w.volRefresh = now.Add(10 * time.Second)
	}
}

// finish releases what an ended pod holds: probes, its sandbox (and with
// it the pod's network) and tmpfs volumes. Its logs and disk volumes stay
// until the pod is deleted.
func (w *podWorker) finish(ctx context.Context) {
	for _, c := range w.ctrs {
		if c.alive() {
			w.stopInstance(ctx, c, 0) // an adopted instance of a pod that had ended
		}
	}
	w.a.probes.RemovePod(w.uid)
	w.a.volWatches.forget(w.uid)
	if w.state == podEnded {
		return
	}
	if err := w.releaseSandbox(ctx); err != nil {
		w.log.Warn("release the sandbox of an ended pod", "err", err)
		return
	}
	w.to(podEnded)
}

// releaseSandbox removes the pod's sandbox (its containers with it), its
// cgroups and its tmpfs mounts.
func (w *podWorker) releaseSandbox(ctx context.Context) error {
	if w.sandbox != nil {
		if err := w.a.removeSandbox(ctx, w.sandbox.id); err != nil {
			return err
		}
		w.sandbox = nil
	}
	if err := w.a.removePodCgroups(w.uid); err != nil {
		return err
	}
	if w.volumes != nil {
		if err := w.volumes.unmount(); err != nil {
			return err
		}
	}
	return nil
}
