package nodeagent

import (
	"context"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// forceDeleteGrace caps the grace period of a pod that vanished from the
// API without a graceful deletion (force-deleted): its owner no longer
// waits for it.
const forceDeleteGrace = 2 * time.Second

// terminate stops a pod that is being deleted, as Kubernetes does: Ready
// goes False first (so endpoints drop it at once), then its containers get
// SIGTERM and, after the grace period, SIGKILL; then its network and logs
// go, and the agent deletes the pod for good (grace 0, with its UID as
// precondition). A pod that vanished from the API (force-deleted) is just
// stopped and cleaned up.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod, gone bool) (time.Time, bool) {
	now := time.Now()
	if !w.state.stopped() {
		w.beginStop()
		if !gone && w.state == podStopping { // an ended pod's status is final
			if err := w.writeStatus(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("mark terminating pod not ready", "err", err)
			}
		}
		w.a.probes.RemovePod(w.uid)
		grace := terminationGrace(pod)
		if gone {
			grace = min(grace, forceDeleteGrace)
		}
		if w.running() {
			w.log.Info("stopping pod", "grace", grace, "force_deleted", gone)
			w.a.events.pod(pod, "", corev1.EventTypeNormal, eventKilling, "Stopping pod (grace period %s)", grace)
		}
		if !w.stopAll(ctx, pod, grace) {
			return time.Time{}, true // the agent is stopping: shutdown takes over
		}
		if err := w.releaseSandbox(ctx); err != nil {
			w.log.Warn("remove the pod's sandbox", "err", err)
			return w.delRetry.fail(now), false
		}
		if err := w.a.removePodDir(string(w.uid)); err != nil {
			w.log.Warn("remove the pod's volumes", "err", err)
			return w.delRetry.fail(now), false
		}
		if err := os.RemoveAll(w.a.podLogDir(w.namespace, w.name, w.uid)); err != nil {
			w.log.Warn("remove pod logs", "err", err)
		}
		w.to(podStopped)
		w.delRetry.ok()
		w.log.Info("pod stopped")
	}
	if gone {
		return time.Time{}, true
	}
	if w.state == podDeleted || !w.delRetry.due(now) {
		return w.delRetry.at, false
	}
	// The last status (containers terminated) before the pod goes, for
	// whoever watches it go.
	if err := w.writeStatus(ctx); err != nil && ctx.Err() == nil {
		w.log.Debug("write final pod status", "err", err)
	}
	zero := int64(0)
	uid := pod.UID
	err := w.a.client.CoreV1().Pods(w.namespace).Delete(ctx, w.name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	switch {
	case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Deleted, or gone already, or a new pod took the name.
		w.to(podDeleted)
		return time.Time{}, false
	case ctx.Err() != nil:
		return time.Time{}, true
	}
	w.log.Warn("delete stopped pod", "err", err)
	return w.delRetry.fail(now), false
}

// running reports whether any container runs.
func (w *podWorker) running() bool {
	for _, c := range w.ctrs {
		if c.alive() {
			return true
		}
	}
	return false
}

// stopAll stops every running container at once (preStop hook, SIGTERM,
// SIGKILL after the grace period) and records how each ended; false means
// ctx ended first.
func (w *podWorker) stopAll(ctx context.Context, pod *corev1.Pod, grace time.Duration) bool {
	var wg sync.WaitGroup
	for _, c := range w.ctrs {
		if c.alive() {
			spec, id := c.spec, c.run.id
			wg.Go(func() { w.stopContainer(ctx, pod, spec, id, grace) })
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return false
	}
	now := time.Now()
	for _, c := range w.ctrs {
		c.final = true // no restart: collect records the end only
		if c.run != nil {
			w.collect(ctx, c, now)
		}
	}
	return true
}

// stopForShutdown stops the pod because the agent stops without keeping its
// pods: not ready first, then its containers (with at most
// maxShutdownGrace), then its sandbox. Its logs and disk volumes stay: the
// pod still exists and its next agent starts it again. The worker
// goroutine has exited.
func (w *podWorker) stopForShutdown(ctx context.Context) {
	if w.state.stopped() {
		return
	}
	pod, gone := w.snapshot()
	if w.running() {
		w.beginStop()
		if !gone {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := w.writeStatus(sctx); err != nil {
				w.log.Warn("mark pod not ready", "err", err)
			}
			cancel()
		}
		w.a.probes.RemovePod(w.uid)
		if !w.stopAll(ctx, pod, min(terminationGrace(pod), maxShutdownGrace)) {
			w.log.Error("stop pod at shutdown: timed out")
		}
		if !gone {
			// How its containers ended, for the next agent to go on from.
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			w.writeStatus(sctx)
			cancel()
		}
	}
	if err := w.releaseSandbox(ctx); err != nil {
		w.log.Error("remove the pod's sandbox at shutdown", "err", err)
	}
	w.publish()
}

// terminationGrace is the pod's grace period: the deletion's, else its
// spec's, else Kubernetes' default of 30 s.
func terminationGrace(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// probeGrace is the grace period of a container killed by its probe: the
// probe's own, else the pod's.
func probeGrace(pod *corev1.Pod, c *corev1.Container, k probe.Kind) time.Duration {
	p := c.LivenessProbe
	if k == probe.Startup {
		p = c.StartupProbe
	}
	if p != nil && p.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}
