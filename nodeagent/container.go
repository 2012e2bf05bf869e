package nodeagent

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Restart back-off: 1 s after the first exit, doubling to 60 s, back to
// 1 s once a container has run for 10 minutes.
const (
	backoffBase  = time.Second
	backoffMax   = 60 * time.Second
	backoffReset = 10 * time.Minute
)

// Container state reasons, kubelet's.
const (
	reasonCreating       = "ContainerCreating"
	reasonInitializing   = "PodInitializing"
	reasonConfigError    = "CreateContainerConfigError"
	reasonCreateError    = "CreateContainerError"
	reasonRunError       = "RunContainerError"
	reasonCrashLoop      = "CrashLoopBackOff"
	reasonStartError     = "StartError"
	reasonStatusUnknown  = "ContainerStatusUnknown"
	reasonCompleted      = "Completed"
	reasonError          = "Error"
	reasonOOMKilled      = "OOMKilled"
	exitCodeStartFailure = 128 // what containerd reports for a command that could not start
)

// instance is one run of a container: a CRI container.
type instance struct {
	id        string // the runtime's container ID
	attempt   uint32 // its restart count when it was created: its log is <attempt>.log
	startedAt time.Time
}

// ctr is one container of a pod (an init or an app container): its
// current instance, if any, and what the pod status says about its
// history. Only the pod's worker goroutine uses it.
type ctr struct {
	spec corev1.Container
	init bool // an init container: runs to completion before the app containers

	run *instance // the running instance, or one that exited and is not yet reaped

	everRan    bool  // an instance ran (here or before an agent restart): the next start is a restart
	restarts   int32 // restartCount
	last, prev *corev1.ContainerStateTerminated

	startErr  string // the last instance could not start: the runtime's error
	createErr string // the runtime could not create it (CreateContainerError)
	configErr string // it cannot run as specified
	final     bool   // ended and the restart policy says it stays so

	delay     time.Duration // the current restart back-off
	notBefore time.Time     // no start before this
	killing   string        // why the agent is stopping the current instance, "" if it is not
	probed    bool          // the current instance was given to the probe manager
	lost      bool          // the status said running but no such container was found

	image imageState // pulling its image
}

// alive reports whether the container has a running instance.
func (c *ctr) alive() bool { return c.run != nil }

// succeeded reports an instance that ended with exit code 0 for good: an
// init container that is done.
func (c *ctr) succeeded() bool { return c.final && c.last != nil && c.last.ExitCode == 0 }

// restore takes what the API's status says about the container: how often
// it restarted and how its instances ended. An agent that restarts (or
// another that took over the data dir) goes on counting from there.
func (c *ctr) restore(cs *corev1.ContainerStatus) {
	c.restarts = cs.RestartCount
	c.everRan = cs.RestartCount > 0 || cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil
	switch {
	case cs.State.Terminated != nil:
		c.last, c.prev = cs.State.Terminated.DeepCopy(), cs.LastTerminationState.Terminated.DeepCopy()
	case cs.State.Running != nil:
		c.last = cs.LastTerminationState.Terminated.DeepCopy()
		c.lost = true // until an instance is adopted
	default:
		c.last = cs.LastTerminationState.Terminated.DeepCopy()
	}
}

// adopt makes run, left by a previous agent, the container's instance.
func (c *ctr) adopt(run *instance) {
	c.run, c.everRan, c.lost, c.probed = run, true, false, false
}

// started records a new instance.
func (c *ctr) started(run *instance) {
	c.run, c.probed = run, false
	c.everRan, c.startErr, c.createErr, c.configErr, c.killing = true, "", "", "", ""
}

// ended records how the last instance ended; afterExit then decides what
// comes next.
func (c *ctr) ended(t *corev1.ContainerStateTerminated) {
	c.prev, c.last = c.last, t
	c.run, c.killing = nil, ""
}

// afterExit applies the restart policy to the instance that just ended: a
// restart after the back-off, or nothing more.
func (c *ctr) afterExit(policy corev1.RestartPolicy, now time.Time) {
	if !shouldRestart(policy, c.last.ExitCode) {
		c.final = true
		return
	}
	if c.last.FinishedAt.Sub(c.last.StartedAt.Time) >= backoffReset {
		c.delay = 0
	}
	if c.delay == 0 {
		c.delay = backoffBase
	} else {
		c.delay = min(2*c.delay, backoffMax)
	}
	c.notBefore = now.Add(c.delay)
}

// policy is the restart policy of the container: the pod's, except that an
// init container is restarted only when it failed (and never when the pod
// never restarts).
func (c *ctr) policy(pod *corev1.Pod) corev1.RestartPolicy {
	if c.init && pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		return corev1.RestartPolicyOnFailure
	}
	return pod.Spec.RestartPolicy
}

func shouldRestart(policy corev1.RestartPolicy, code int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	default:
		return true
	}
}

// runtimeName prefixes container IDs in statuses, as the kubelet's
// "containerd://<id>".
const runtimeName = "containerd"

func containerID(id string) string {
	if id == "" {
		return ""
	}
	return runtimeName + "://" + id
}

// terminated is the Kubernetes state of an instance that exited, from its
// CRI status; message, when set, says why the agent stopped it.
func terminated(st *runtimeapi.ContainerStatus, message string) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    st.GetExitCode(),
		Reason:      st.GetReason(),
		Message:     st.GetMessage(),
		StartedAt:   mtime(nanoTime(st.GetStartedAt())),
		FinishedAt:  mtime(nanoTime(st.GetFinishedAt())),
		ContainerID: containerID(st.GetId()),
	}
	if t.Reason == "" {
		t.Reason = reasonCompleted
		if t.ExitCode != 0 {
			t.Reason = reasonError
		}
	}
	if message != "" {
		t.Message = message
	}
	return t
}

func nanoTime(ns int64) time.Time {
	if ns <= 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// startFailed is the state of an instance that could not start.
func startFailed(err error, id string, now time.Time) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode: exitCodeStartFailure, Reason: reasonStartError, Message: err.Error(),
		StartedAt: mtime(now), FinishedAt: mtime(now), ContainerID: containerID(id),
	}
}

// lostRun is the state of an instance the status says ran, of which
// nothing was found: kubelet's words for it.
func lostRun(now time.Time) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode: 137, Reason: reasonStatusUnknown,
		Message:    "The container could not be located when the node agent restarted",
		FinishedAt: mtime(now),
	}
}

// mtime is t as the API stores it (whole seconds), so that a status built
// again compares equal to the one read back.
func mtime(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

// waiting is the state of a container that is not running and will run.
func (c *ctr) waiting(pod *corev1.Pod, netErr error, initializing bool) *corev1.ContainerStateWaiting {
	switch {
	case c.configErr != "":
		return &corev1.ContainerStateWaiting{Reason: reasonConfigError, Message: c.configErr}
	case c.image.reason != "":
		return &corev1.ContainerStateWaiting{Reason: c.image.reason, Message: c.image.message}
	case c.createErr != "":
		return &corev1.ContainerStateWaiting{Reason: reasonCreateError, Message: c.createErr}
	case c.startErr != "":
		return &corev1.ContainerStateWaiting{Reason: reasonRunError, Message: c.startErr}
	case c.last != nil && c.delay > 0:
		return &corev1.ContainerStateWaiting{Reason: reasonCrashLoop, Message: fmt.Sprintf(
			"back-off %s restarting failed container=%s pod=%s_%s(%s)", c.delay, c.spec.Name, pod.Name, pod.Namespace, pod.UID)}
	case initializing:
		return &corev1.ContainerStateWaiting{Reason: reasonInitializing}
	case netErr != nil:
		return &corev1.ContainerStateWaiting{Reason: reasonCreating, Message: "pod sandbox: " + netErr.Error()}
	default:
		return &corev1.ContainerStateWaiting{Reason: reasonCreating}
	}
}
