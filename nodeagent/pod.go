package nodeagent

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/nodeagent/network"
	"github.com/shoalmesh/shoal/nodeagent/probe"
	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
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
		w.reap(pod, c, now)
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
	if w.sandbox == nil {
		if w.netRetry.due(now) {
			soonest(w.setupNetwork(ctx, pod, now))
		} else {
			soonest(w.netRetry.at)
		}
	}
	if !w.warnedVols && len(pod.Spec.Volumes) > 0 {
		w.warnedVols = true
		w.a.events.pod(pod, "", corev1.EventTypeWarning, eventConfig, "volumes are not supported by Shoal and are ignored")
	}
	for _, c := range w.ctrs {
		w.handleKill(ctx, pod, c)
		if w.sandbox == nil {
			continue
		}
		soonest(w.maybeStart(ctx, pod, c, now))
		if c.alive() && !c.probed {
			w.addProbes(c) // an adopted run
		}
	}
	if ctx.Err() != nil {
		return next, true
	}
	if w.containersEnded() {
		w.to(podEnding)
		w.finish(ctx)
	}
	soonest(w.syncStatus(ctx, now))
	return next, false
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

func (w *podWorker) setupNetwork(ctx context.Context, pod *corev1.Pod, now time.Time) time.Time {
	sb, err := w.a.net.Setup(ctx, networkPod(pod))
	if err != nil {
		if ctx.Err() != nil {
			return time.Time{}
		}
		w.netErr = err
		w.log.Warn("set up pod network", "err", err)
		w.a.events.pod(pod, "", corev1.EventTypeWarning, eventNetwork, "set up the pod network: %v", err)
		return w.netRetry.fail(now)
	}
	w.sandbox, w.netErr = sb, nil
	w.netRetry.ok()
	return time.Time{}
}

func networkPod(pod *corev1.Pod) network.Pod {
	np := network.Pod{
		UID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name,
		Hostname: pod.Spec.Hostname, Subdomain: pod.Spec.Subdomain,
		HostNetwork: pod.Spec.HostNetwork, DNSPolicy: network.DNSPolicy(pod.Spec.DNSPolicy),
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		np.DNSConfig = &network.DNSConfig{Nameservers: dc.Nameservers, Searches: dc.Searches}
		for _, o := range dc.Options {
			opt := network.DNSOption{Name: o.Name}
			if o.Value != nil {
				opt.Value = *o.Value
			}
			np.DNSConfig.Options = append(np.DNSConfig.Options, opt)
		}
	}
	return np
}

// reap records the end of a run that has exited and applies the restart
// policy.
func (w *podWorker) reap(pod *corev1.Pod, c *ctr, now time.Time) {
	if c.run == nil || !done(c.run) {
		return
	}
	st, _ := c.run.Wait(context.Background()) // done: returns at once
	w.a.probes.Remove(w.uid, c.spec.Name)
	killed := c.killing
	c.ended(terminated(st, c.runID, killed))
	if c.final || w.state != podRunning || pod == nil { // only a running pod restarts a container
		c.final = true
		return
	}
	c.afterExit(pod.Spec.RestartPolicy, now)
	if c.final {
		w.log.Info("container ended", "container", c.spec.Name, "exit_code", st.Code, "reason", st.Reason())
		return
	}
	w.log.Info("container ended, restarting after back-off", "container", c.spec.Name, "exit_code", st.Code,
		"reason", st.Reason(), "back_off", c.delay)
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventBackOff, "Back-off %s restarting failed container %s (exit code %d, %s)",
		c.delay, c.spec.Name, st.Code, st.Reason())
}

// handleKill stops a run whose liveness or startup probe failed; reap then
// restarts it per the restart policy.
func (w *podWorker) handleKill(ctx context.Context, pod *corev1.Pod, c *ctr) {
	w.mu.Lock()
	u, ok := w.kills[c.spec.Name]
	delete(w.kills, c.spec.Name)
	w.mu.Unlock()
	if !ok || u.ContainerID != c.runID || !c.alive() || c.killing != "" {
		return
	}
	what := probeName(u.Kind)
	c.killing = "killed: " + what + " probe failed: " + strings.TrimSpace(u.Output)
	w.log.Info("container failed its probe, restarting", "container", c.spec.Name, "probe", what, "output", u.Output)
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventKilling, "Container %s failed %s probe, will be restarted", c.spec.Name, what)
	grace := probeGrace(pod, &c.spec, u.Kind)
	run := c.run
	go stopRun(ctx, run, grace)
}

// maybeStart starts a container that should run and whose back-off has
// passed; it returns when to try again.
func (w *podWorker) maybeStart(ctx context.Context, pod *corev1.Pod, c *ctr, now time.Time) time.Time {
	if c.run != nil || c.final {
		return time.Time{}
	}
	if now.Before(c.notBefore) {
		return c.notBefore
	}
	spec, err := runtimeSpec(pod, &c.spec, w.sandbox, w.a.cfg.NodeIP.String())
	if err != nil {
		if c.configErr != err.Error() {
			w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
		}
		c.configErr = err.Error()
		return time.Time{} // the spec cannot change: nothing to retry
	}
	if c.everRan {
		c.restarts++
		w.a.metrics.restarts.Inc()
	}
	run, err := w.a.rt.Start(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			if c.everRan {
				c.restarts--
			}
			return time.Time{}
		}
		c.everRan = true
		if errors.Is(err, noderuntime.ErrAlreadyRunning) {
			// Never expected once Adopt ran: say so and try again later.
			w.log.Error("start container", "container", c.spec.Name, "err", err)
		}
		w.log.Info("container failed to start", "container", c.spec.Name, "err", err)
		w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
		c.ended(startFailed(err, now))
		c.startErr = err.Error()
		c.afterExit(pod.Spec.RestartPolicy, now)
		if c.final {
			return time.Time{}
		}
		return c.notBefore
	}
	c.started(run)
	w.watch(run)
	w.log.Info("started container", "container", c.spec.Name, "pid", run.Pid(), "restarts", c.restarts)
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventStarted, "Started container %s", c.spec.Name)
	w.addProbes(c)
	return time.Time{}
}

// addProbes hands a run to the probe manager (also a run without probes:
// it decides readiness).
func (w *podWorker) addProbes(c *ctr) {
	c.probed = true
	err := w.a.probes.Add(probe.Container{
		PodUID: w.uid, PodIP: w.sandbox.IP.String(), Spec: &c.spec, ID: c.runID,
		StartedAt: c.run.StartedAt(), Exec: newExecer(c.run),
	})
	if err != nil && !errors.Is(err, probe.ErrClosed) {
		w.log.Error("add probes", "container", c.spec.Name, "err", err)
	}
}

// containersEnded reports whether the pod has ended for good: every
// container has ended and none will restart.
func (w *podWorker) containersEnded() bool {
	if len(w.ctrs) == 0 {
		return false
	}
	for _, c := range w.ctrs {
		if !c.final {
			return false
		}
	}
	return true
}

// finish releases what an ended pod holds: probes and its network. Its
// logs stay until the pod is deleted.
func (w *podWorker) finish(ctx context.Context) {
	for _, c := range w.ctrs {
		if c.alive() {
			stopRun(ctx, c.run, 0) // an adopted run of a pod that had ended
		}
	}
	w.a.probes.RemovePod(w.uid)
	if w.state == podEnded {
		return
	}
	if err := w.a.net.Teardown(ctx, string(w.uid)); err != nil {
		w.log.Warn("tear down the network of an ended pod", "err", err)
		return
	}
	w.sandbox = nil
	w.to(podEnded)
}

// stopRun stops a run with a grace period; errors mean the agent is
// stopping (ctx) or the run ended already.
func stopRun(ctx context.Context, run *noderuntime.Container, grace time.Duration) {
	run.Stop(ctx, grace)
}
