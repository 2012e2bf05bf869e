package nodeagent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// adoptLeftovers takes over what a previous agent left of the pod: its
// ready sandbox, the running containers in it (probed and restarted like
// any), and the exit of a container that ended while no agent watched.
// Everything else of it (older or dead sandboxes, containers of another
// sandbox or of no container of the spec) is removed in the background.
// Nothing of an ended pod is adopted.
func (w *podWorker) adoptLeftovers(pod *corev1.Pod, left *leftovers, terminal bool) {
	a := w.a
	ctx := a.runCtx
	var stale []string // sandboxes to remove
	for _, sb := range left.sandboxes {
		if terminal || w.sandbox != nil || sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			stale = append(stale, sb.Id)
			continue
		}
		s, err := a.sandboxStatus(ctx, sb.Id, pod.Spec.HostNetwork)
		if err != nil {
			w.log.Warn("a sandbox left by the previous agent is not usable: it is replaced", "err", err)
			stale = append(stale, sb.Id)
			continue
		}
		vols, err := a.setupVolumes(pod)
		if err != nil {
			w.log.Warn("the volumes of an adopted sandbox: it is replaced", "err", err)
			stale = append(stale, sb.Id)
			continue
		}
		w.sandbox, w.volumes = s, vols
		w.log.Info("adopted sandbox", "id", shortID(sb.Id), "ip", s.ip)
	}
	var orphans []string // containers to remove
	for _, rc := range left.containers {
		c := w.ctr(rc.GetLabels()[labelContainerName])
		if c == nil || w.sandbox == nil || rc.PodSandboxId != w.sandbox.id || c.run != nil {
			orphans = append(orphans, rc.Id)
			continue
		}
		switch rc.State {
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			st, err := a.cri.ContainerStatus(ctx, rc.Id, false)
			if err != nil {
				orphans = append(orphans, rc.Id)
				continue
			}
			c.adopt(&instance{id: rc.Id, attempt: rc.GetMetadata().GetAttempt(), startedAt: nanoTime(st.GetStatus().GetStartedAt())})
			w.log.Info("adopted container", "container", c.spec.Name, "id", shortID(rc.Id))
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			if !c.lost {
				orphans = append(orphans, rc.Id) // its end is in the status already
				continue
			}
			// It ended while no agent watched: the first sync reaps it.
			c.adopt(&instance{id: rc.Id, attempt: rc.GetMetadata().GetAttempt()})
			a.relist.markExited(rc.Id)
		default:
			orphans = append(orphans, rc.Id)
		}
	}
	if len(stale) == 0 && len(orphans) == 0 {
		return
	}
	a.background(func(ctx context.Context) {
		for _, id := range orphans {
			a.cri.StopContainer(ctx, id, int64(orphanGrace/time.Second))
			a.cri.RemoveContainer(ctx, id)
		}
		for _, id := range stale {
			if err := a.removeSandbox(ctx, id); err != nil {
				w.log.Warn("remove a sandbox left by the previous agent", "err", err)
			}
		}
	})
}
