package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// minStopGrace is the least a container gets between SIGTERM and SIGKILL
// once its preStop hook has used up its grace period, as in the kubelet.
const minStopGrace = 2 * time.Second

// runHook runs a lifecycle hook in container id of the pod: exec through
// the runtime, httpGet to the pod's IP (from the node's namespace), or
// sleep. It fails on a non-zero exit or an HTTP error status.
func (w *podWorker) runHook(ctx context.Context, spec *corev1.Container, id, podIP string, h *corev1.LifecycleHandler) error {
	if h.Sleep != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return nil
		}
	}
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket}}
	res, out, err := w.a.hookProber.Probe(ctx, p, &probe.Container{
		PodUID: w.uid, PodIP: podIP, Spec: spec, ID: id, Exec: w.a.execer(id),
	})
	switch {
	case err != nil:
		return err
	case res != probe.Success:
		if out == "" {
			out = "the hook failed"
		}
		return errors.New(out)
	}
	return nil
}

// postStart runs the container's postStart hook, if any, right after it
// started; a failed hook kills the instance (restarted per the restart
// policy), as in Kubernetes. It reports whether the instance lives on.
func (w *podWorker) postStart(ctx context.Context, pod *corev1.Pod, c *ctr) bool {
	lc := c.spec.Lifecycle
	if lc == nil || lc.PostStart == nil {
		return true
	}
	err := w.runHook(ctx, &c.spec, c.run.id, w.sandbox.ip.String(), lc.PostStart)
	if err == nil || ctx.Err() != nil {
		return true
	}
	msg := fmt.Sprintf("PostStartHookError: %v", err)
	w.log.Info("postStart hook failed", "container", c.spec.Name, "err", err)
	w.a.events.pod(pod, c.spec.Name, corev1.EventTypeWarning, eventPostStartFailed, "%s", msg)
	c.killing = msg
	w.stopInstance(ctx, c, terminationGrace(pod))
	c.afterExit(c.policy(pod), time.Now())
	return false
}

// stopContainer stops instance id of a container: its preStop hook first
// (within the grace period), then SIGTERM, and SIGKILL after what is left
// of the grace period (at least minStopGrace when the hook used it up).
// It returns once the instance has exited.
func (w *podWorker) stopContainer(ctx context.Context, pod *corev1.Pod, spec corev1.Container, id string, grace time.Duration) {
	start := time.Now()
	if lc := spec.Lifecycle; lc != nil && lc.PreStop != nil && grace > 0 {
		hctx, cancel := context.WithTimeout(ctx, grace)
		ip := w.a.cfg.NodeIP
		if v := w.viewOf(); v.podIP.IsValid() {
			ip = v.podIP
		}
		if err := w.runHook(hctx, &spec, id, ip.String(), lc.PreStop); err != nil && ctx.Err() == nil {
			w.log.Info("preStop hook failed", "container", spec.Name, "err", err)
			w.a.events.pod(pod, spec.Name, corev1.EventTypeWarning, eventPreStopFailed, "PreStopHook failed: %v", err)
		}
		cancel()
		if grace -= time.Since(start); grace < minStopGrace {
			grace = minStopGrace
		}
	}
	secs := int64(math.Ceil(grace.Seconds()))
	if err := w.a.cri.StopContainer(ctx, id, secs); err != nil && ctx.Err() == nil {
		w.log.Warn("stop container", "container", spec.Name, "id", shortID(id), "err", err)
	}
}
