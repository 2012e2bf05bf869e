package nodeagent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pod condition reasons.
const (
	reasonContainersNotReady       = "ContainersNotReady"
	reasonContainersNotInitialized = "ContainersNotInitialized"
	reasonPodCompleted             = "PodCompleted"
	reasonTerminating              = "PodTerminating"
)

// writeStatus writes the pod's status to pods/status if it differs from
// what the API has, re-reading the pod on a conflict.
func (w *podWorker) writeStatus(ctx context.Context) error {
	pods := w.a.client.CoreV1().Pods(w.namespace)
	for attempt := 0; ; attempt++ {
		pod, gone := w.snapshot()
		if gone {
			return nil
		}
		want := w.buildStatus(pod, time.Now())
		if statusEqual(&want, &pod.Status) {
			return nil
		}
		p := pod.DeepCopy()
		p.Status = want
		out, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		w.a.metrics.statusWrites(err)
		switch {
		case err == nil:
			w.update(out)
			return nil
		case apierrors.IsNotFound(err):
			return nil // the informer will say it is gone
		case !apierrors.IsConflict(err) || attempt >= 3:
			return fmt.Errorf("update status: %w", err)
		}
		fresh, err := pods.Get(ctx, w.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("update status: %w", err)
		case fresh.UID != w.uid:
			return nil // deleted and created again: another worker's
		}
		w.update(fresh)
	}
}

// statusEqual compares two statuses as the API stores them.
func statusEqual(a, b *corev1.PodStatus) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// buildStatus is the pod's status as the worker sees it, keeping the
// transition times of conditions that did not change and what the agent
// does not own.
func (w *podWorker) buildStatus(pod *corev1.Pod, now time.Time) corev1.PodStatus {
	old := &pod.Status
	stopping := w.state.stopping() || pod.DeletionTimestamp != nil
	hostIP := w.a.cfg.NodeIP.String()
	st := corev1.PodStatus{
		HostIP:            hostIP,
		HostIPs:           []corev1.HostIP{{IP: hostIP}},
		PodIP:             old.PodIP,
		PodIPs:            old.PodIPs,
		QOSClass:          old.QOSClass,
		NominatedNodeName: old.NominatedNodeName,
	}
	if w.sandbox != nil {
		ip := w.sandbox.ip.String()
		st.PodIP, st.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	if !w.startTime.IsZero() {
		t := mtime(w.startTime)
		st.StartTime = &t
	}
	initialized := w.initialized()
	var unready, uninitialized []string
	for _, c := range w.inits() {
		cs := w.containerStatus(pod, c, false)
		if !cs.Ready {
			uninitialized = append(uninitialized, c.spec.Name)
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	for _, c := range w.apps() {
		cs := w.containerStatus(pod, c, !initialized)
		if !cs.Ready {
			unready = append(unready, c.spec.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	st.Phase = podPhase(pod.Spec.RestartPolicy, st.InitContainerStatuses, st.ContainerStatuses)

	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	ready := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
	switch {
	case terminal:
		ready.Status, ready.Reason = corev1.ConditionFalse, reasonPodCompleted
	case len(unready) > 0:
		ready.Status, ready.Reason = corev1.ConditionFalse, reasonContainersNotReady
		ready.Message = fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	podReady := ready
	podReady.Type = corev1.PodReady
	if stopping && !terminal {
		podReady.Status, podReady.Reason, podReady.Message = corev1.ConditionFalse, reasonTerminating, "the pod is being stopped"
	}
	init := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	switch {
	case len(uninitialized) > 0:
		init.Status, init.Reason = corev1.ConditionFalse, reasonContainersNotInitialized
		init.Message = fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(uninitialized, " "))
	case terminal:
		init.Reason = reasonPodCompleted
	}
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	for _, c := range []corev1.PodCondition{scheduled, init, ready, podReady} {
		c.LastTransitionTime = mtime(now)
		if oc := findCondition(old.Conditions, c.Type); oc != nil && oc.Status == c.Status {
			c.LastTransitionTime = oc.LastTransitionTime
		}
		st.Conditions = append(st.Conditions, c)
	}
	// Conditions others own (DisruptionTarget, readiness gates) stay.
	for _, oc := range old.Conditions {
		switch oc.Type {
		case corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady:
		default:
			st.Conditions = append(st.Conditions, oc)
		}
	}
	return st
}

func findCondition(conds []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// containerStatus is the status of one container; initializing says the
// pod's init containers have not all succeeded.
func (w *podWorker) containerStatus(pod *corev1.Pod, c *ctr, initializing bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, ImageID: c.image.ref, RestartCount: c.restarts}
	if c.image.hostless {
		cs.Image = ""
	}
	started := false
	switch {
	case c.alive():
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: mtime(c.run.startedAt)}
		cs.LastTerminationState.Terminated = c.last
		cs.ContainerID = containerID(c.run.id)
		if c.init {
			started = true
		} else {
			started = w.a.probes.Started(w.uid, c.spec.Name)
			cs.Ready = c.killing == "" && w.a.probes.Ready(w.uid, c.spec.Name)
		}
	case c.final && c.last != nil:
		cs.State.Terminated = c.last
		cs.LastTerminationState.Terminated = c.prev
		cs.ContainerID = c.last.ContainerID
		cs.Ready = c.init && c.last.ExitCode == 0
	default:
		cs.State.Waiting = c.waiting(pod, w.sbErr, initializing)
		cs.LastTerminationState.Terminated = c.last
	}
	cs.Started = &started
	return cs
}

// podPhase is kubelet's phase of a pod from its containers' states: Pending
// while an init container has not succeeded (Failed when one failed and
// the pod never restarts), then by its app containers (one waiting to
// restart counts as stopped).
func podPhase(policy corev1.RestartPolicy, inits, statuses []corev1.ContainerStatus) corev1.PodPhase {
	pendingInit, failedInit := 0, 0
	for _, cs := range inits {
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
		case cs.State.Terminated != nil:
			failedInit++
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode != 0:
			failedInit++
		default:
			pendingInit++
		}
	}
	if failedInit > 0 && policy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	if pendingInit > 0 || failedInit > 0 {
		return corev1.PodPending
	}
	var waiting, running, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case policy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case policy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}
