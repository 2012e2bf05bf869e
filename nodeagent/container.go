package nodeagent

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
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
	reasonConfigError    = "CreateContainerConfigError"
	reasonRunError       = "RunContainerError"
	reasonCrashLoop      = "CrashLoopBackOff"
	reasonStartError     = "StartError"
	reasonStatusUnknown  = "ContainerStatusUnknown"
	exitCodeStartFailure = 128 // what containerd reports for a command that could not start
)

// ctr is one container of a pod: its current run, if any, and what the pod
// status says about its history. Only the pod's worker goroutine uses it.
type ctr struct {
	spec  corev1.Container
	run   *noderuntime.Container // the current run, or one that ended and is not yet reaped
	runID string

	everRan    bool  // an instance ran (here or before an agent restart): the next start is a restart
	restarts   int32 // restartCount
	last, prev *corev1.ContainerStateTerminated

	startErr  string // the last instance could not start: the runtime's error
	configErr string // it cannot run as specified
	final     bool   // ended and the restart policy says it stays so

	delay     time.Duration // the current restart back-off
	notBefore time.Time     // no start before this
	killing   string        // why the agent is stopping the current run, "" if it is not
	probed    bool          // the current run was given to the probe manager
	lost      bool          // the status said running but no such container was found
}

func done(c *noderuntime.Container) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// alive reports whether the container has a run that has not ended.
func (c *ctr) alive() bool { return c.run != nil && !done(c.run) }

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
		c.lost = true // until a run is adopted
	default:
		c.last = cs.LastTerminationState.Terminated.DeepCopy()
	}
}

// adopt makes run, left by a previous agent, the container's current run.
func (c *ctr) adopt(run *noderuntime.Container) {
	c.run, c.runID, c.everRan, c.lost, c.probed = run, runID(run), true, false, false
}

// started records a new run.
func (c *ctr) started(run *noderuntime.Container) {
	c.run, c.runID, c.probed = run, runID(run), false
	c.everRan, c.startErr, c.configErr, c.killing = true, "", "", ""
}

// ended records how the last instance ended; afterExit then decides what
// comes next.
func (c *ctr) ended(t *corev1.ContainerStateTerminated) {
	c.prev, c.last = c.last, t
	c.run, c.runID, c.killing = nil, "", ""
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

// runID names one run of a container: its status's containerID and the
// probe manager's run ID.
func runID(run *noderuntime.Container) string {
	return strconv.FormatInt(run.StartedAt().UnixNano(), 36) + "." + strconv.Itoa(run.Pid())
}

// terminated is the Kubernetes state of a run that ended with st.
func terminated(st noderuntime.ExitStatus, id, message string) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode:    int32(st.Code),
		Signal:      int32(st.Signal),
		Reason:      st.Reason(),
		Message:     message,
		StartedAt:   mtime(st.StartedAt),
		FinishedAt:  mtime(st.FinishedAt),
		ContainerID: containerID(id),
	}
}

// startFailed is the state of an instance that could not start.
func startFailed(err error, now time.Time) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode: exitCodeStartFailure, Reason: reasonStartError, Message: err.Error(),
		StartedAt: mtime(now), FinishedAt: mtime(now),
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

func containerID(id string) string {
	if id == "" {
		return ""
	}
	return "shoal://" + id
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
func (c *ctr) waiting(pod *corev1.Pod, netErr error) *corev1.ContainerStateWaiting {
	switch {
	case c.configErr != "":
		return &corev1.ContainerStateWaiting{Reason: reasonConfigError, Message: c.configErr}
	case c.startErr != "":
		return &corev1.ContainerStateWaiting{Reason: reasonRunError, Message: c.startErr}
	case c.last != nil && c.delay > 0:
		return &corev1.ContainerStateWaiting{Reason: reasonCrashLoop, Message: fmt.Sprintf(
			"back-off %s restarting failed container=%s pod=%s_%s(%s)", c.delay, c.spec.Name, pod.Name, pod.Namespace, pod.UID)}
	case netErr != nil:
		return &corev1.ContainerStateWaiting{Reason: reasonCreating, Message: "pod network: " + netErr.Error()}
	default:
		return &corev1.ContainerStateWaiting{Reason: reasonCreating}
	}
}
