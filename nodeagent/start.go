package nodeagent

import (
	"context"
	"errors"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// maybeStart starts a container that should run and whose back-off has
// passed: its image first, then CreateContainer, StartContainer and its
// postStart hook. It returns when to try again.
func (w *podWorker) maybeStart(ctx context.Context, pod *corev1.Pod, c *ctr, now time.Time) time.Time {
	if c.run != nil || c.final {
		return time.Time{}
	}
	if now.Before(c.notBefore) {
		return c.notBefore
	}
	if ok, next := w.ensureImage(ctx, pod, c, now); !ok {
		return next
	}
	attempt := uint32(0)
	if c.everRan {
		attempt = uint32(c.restarts + 1)
	}
	cfg, err := w.containerConfig(pod, c, attempt)
	if err != nil {
		if msg := err.Error(); c.configErr != msg {
			w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
			c.configErr = msg
		}
		return time.Time{} // tried again when the pod changes, or at the next resync
	}
	c.configErr = ""
	sbc, err := w.a.sandboxConfig(pod)
	if err != nil {
		c.configErr = err.Error()
		return time.Time{}
	}
	id, err := w.a.cri.CreateContainer(ctx, w.sandbox.id, cfg, sbc)
	if err != nil {
		if ctx.Err() != nil {
			return time.Time{}
		}
		w.log.Info("create container failed", "container", c.spec.Name, "err", err)
		w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
		c.createErr = err.Error()
		return now.Add(max(c.delay, backoffBase))
	}
	c.createErr = ""
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventCreated, "Created container %s", c.spec.Name)
	if c.everRan {
		c.restarts++
		w.a.metrics.restarts.Inc()
	}
	if err := w.a.cri.StartContainer(ctx, id); err != nil {
		if ctx.Err() != nil {
			w.a.cri.RemoveContainer(context.WithoutCancel(ctx), id)
			return time.Time{}
		}
		c.everRan = true
		w.log.Info("container failed to start", "container", c.spec.Name, "err", err)
		w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventFailed, "Error: %v", err)
		c.ended(startFailed(startError(err), id, now))
		c.startErr = c.last.Message
		w.removeContainer(ctx, id)
		c.afterExit(c.policy(pod), now)
		if c.final {
			return time.Time{}
		}
		return c.notBefore
	}
	c.started(&instance{id: id, attempt: attempt, startedAt: now})
	w.a.removeOldLogs(pod, c.spec.Name, attempt)
	w.log.Info("started container", "container", c.spec.Name, "id", shortID(id), "restarts", c.restarts)
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventStarted, "Started container %s", c.spec.Name)
	if !w.postStart(ctx, pod, c) {
		return time.Time{}
	}
	if !c.init {
		w.addProbes(c)
	}
	return time.Time{}
}

// startError trims the runtime's wrapping from a failed start, keeping
// runc's reason (`exec: "x": executable file not found in $PATH`).
func startError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "desc = "); i >= 0 {
		msg = msg[i+len("desc = "):]
	}
	return errors.New(msg)
}

func shortID(id string) string { return id[:min(len(id), 12)] }

// reap records the end of an instance that has exited (the relist saw it)
// and applies the restart policy.
func (w *podWorker) reap(ctx context.Context, pod *corev1.Pod, c *ctr, now time.Time) {
	if c.run == nil || !w.a.relist.hasExited(c.run.id) {
		return
	}
	w.collect(ctx, c, now)
	if c.final || w.state != podRunning || pod == nil { // only a running pod restarts a container
		c.final = true
		return
	}
	c.afterExit(c.policy(pod), now)
	st := c.last
	if c.final {
		w.log.Info("container ended", "container", c.spec.Name, "exit_code", st.ExitCode, "reason", st.Reason)
		return
	}
	w.log.Info("container ended, restarting after back-off", "container", c.spec.Name, "exit_code", st.ExitCode,
		"reason", st.Reason, "back_off", c.delay)
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventBackOff, "Back-off %s restarting failed container %s (exit code %d, %s)",
		c.delay, c.spec.Name, st.ExitCode, st.Reason)
}

// collect reads how an exited instance ended, records it and removes the
// container (its log file stays).
func (w *podWorker) collect(ctx context.Context, c *ctr, now time.Time) {
	id := c.run.id
	w.a.probes.Remove(w.uid, c.spec.Name)
	st, err := w.a.cri.ContainerStatus(ctx, id, false)
	var t *corev1.ContainerStateTerminated
	if err != nil || st.GetStatus() == nil {
		t = lostRun(now)
		t.ContainerID = containerID(id)
		t.Message = "The container could not be found when it exited"
	} else {
		t = terminated(st.GetStatus(), c.killing)
	}
	c.ended(t)
	w.removeContainer(ctx, id)
}

// removeContainer removes an instance the agent is done with.
func (w *podWorker) removeContainer(ctx context.Context, id string) {
	if err := w.a.cri.RemoveContainer(ctx, id); err != nil && ctx.Err() == nil {
		w.log.Warn("remove container", "id", shortID(id), "err", err)
	}
	w.a.relist.forget(id)
}

// handleKill stops an instance whose liveness or startup probe failed;
// reap then restarts it per the restart policy.
func (w *podWorker) handleKill(ctx context.Context, pod *corev1.Pod, c *ctr) {
	w.mu.Lock()
	u, ok := w.kills[c.spec.Name]
	delete(w.kills, c.spec.Name)
	w.mu.Unlock()
	if !ok || !c.alive() || u.ContainerID != c.run.id || c.killing != "" {
		return
	}
	what := probeName(u.Kind)
	c.killing = what + " probe failed: " + strings.TrimSpace(u.Output)
	w.log.Info("container failed its probe, restarting", "container", c.spec.Name, "probe", what, "output", u.Output)
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeNormal, eventKilling, "Container %s failed %s probe, will be restarted", c.spec.Name, what)
	grace := probeGrace(pod, &c.spec, u.Kind)
	id := c.run.id
	w.a.background(func(ctx context.Context) {
		w.stopContainer(ctx, pod, c.spec, id, grace)
		w.wake()
	})
}

// addProbes hands an instance to the probe manager (also one without
// probes: it decides readiness).
func (w *podWorker) addProbes(c *ctr) {
	c.probed = true
	err := w.a.probes.Add(probe.Container{
		PodUID: w.uid, PodIP: w.sandbox.ip.String(), Spec: &c.spec, ID: c.run.id,
		StartedAt: c.run.startedAt, Exec: w.a.execer(c.run.id),
	})
	if err != nil && !errors.Is(err, probe.ErrClosed) {
		w.log.Error("add probes", "container", c.spec.Name, "err", err)
	}
}

// stopInstance stops the container's running instance with a grace
// period, waits for it and records how it ended.
func (w *podWorker) stopInstance(ctx context.Context, c *ctr, grace time.Duration) {
	pod, _ := w.snapshot()
	w.stopContainer(ctx, pod, c.spec, c.run.id, grace)
	if ctx.Err() == nil {
		w.collect(ctx, c, time.Now())
	}
}
