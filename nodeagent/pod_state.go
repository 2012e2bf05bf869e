package nodeagent

import "strconv"

// podState is where a pod is in its life on this node, as its worker sees
// it. Only the worker goroutine moves it (podWorker.to), and shutdown once
// that goroutine has exited; other goroutines read it under podWorker.mu.
// A worker only moves forward:
//
//	running ──► ending ──► ended
//	   │          │          │
//	   │          └────┬─────┘
//	   ▼               ▼
//	stopping        removing
//	   │               │
//	   └──► stopped ◄──┘
//	           │
//	           ▼
//	        deleted
//
// Whether the pod is still in the API is not a state of the worker but news
// from the informer (podWorker.gone), as its deletionTimestamp is: either
// sends a worker that has not stopped to stopping or removing.
type podState uint8

const (
	// podRunning: the pod runs. The worker sets up its network, starts its
	// containers, restarts them after a back-off and probes them.
	podRunning podState = iota

	// podEnding: every container has ended and none will restart (the pod
	// Succeeded or Failed). Nothing runs or starts again; the worker
	// removes its probes and tears its network down, again on each sync
	// until that succeeds. Its logs stay.
	podEnding

	// podEnded: ended, and its network is torn down. The worker only
	// writes its status until the pod is deleted.
	podEnded

	// podStopping: a pod that had not ended is being stopped, because it is
	// deleted or because the agent stops without keeping its pods. It is
	// reported not ready, its containers get SIGTERM and after the grace
	// period SIGKILL, then its network goes (and, when deleted, its logs);
	// a failed teardown is retried from here.
	podStopping

	// podRemoving: a pod that had ended is being stopped (deleted, or the
	// agent stops). Its status is final, so it is not written as not ready;
	// a run adopted after the end is stopped, then its network goes (and,
	// when deleted, its logs); a failed teardown is retried from here.
	podRemoving

	// podStopped: deleted, and stopped: no container runs, its network and
	// logs are removed. The worker deletes the pod from the API for good
	// (grace 0), or exits if it is gone already.
	podStopped

	// podDeleted: the final delete was accepted. The worker waits for the
	// informer to report the pod gone, and exits.
	podDeleted
)

var podStateNames = [...]string{
	podRunning:  "running",
	podEnding:   "ending",
	podEnded:    "ended",
	podStopping: "stopping",
	podRemoving: "removing",
	podStopped:  "stopped",
	podDeleted:  "deleted",
}

func (s podState) String() string {
	if int(s) < len(podStateNames) {
		return podStateNames[s]
	}
	return "podState(" + strconv.Itoa(int(s)) + ")"
}

// podTransitions are the moves the diagram above allows.
var podTransitions = map[podState][]podState{
	podRunning:  {podEnding, podStopping},
	podEnding:   {podEnded, podRemoving},
	podEnded:    {podRemoving},
	podStopping: {podStopped},
	podRemoving: {podStopped},
	podStopped:  {podDeleted},
}

// canMove reports whether a worker may move from one state to another.
func canMove(from, to podState) bool {
	for _, s := range podTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// hasEnded reports an ended pod that is not being stopped: its containers
// have all ended for good and nothing restarts them.
func (s podState) hasEnded() bool { return s == podEnding || s == podEnded }

// stopping reports a pod that is being, or has been, stopped: it is
// reported not ready.
func (s podState) stopping() bool { return s >= podStopping }

// stopped reports a pod whose containers, network and logs are gone.
func (s podState) stopped() bool { return s == podStopped || s == podDeleted }

// to moves the worker to state next. It refuses, and logs, a move the
// diagram does not allow: that is a bug, and the worker stays where it is
// rather than skipping a step (a network left up, a pod deleted early).
func (w *podWorker) to(next podState) bool {
	if !canMove(w.state, next) {
		w.log.Error("refused illegal pod state transition", "from", w.state, "to", next)
		return false
	}
	w.mu.Lock()
	w.state = next
	w.mu.Unlock()
	return true
}

// beginStop moves a pod that runs or has ended to podStopping or
// podRemoving; one already on its way stays where it is.
func (w *podWorker) beginStop() {
	switch {
	case w.state == podRunning:
		w.to(podStopping)
	case w.state.hasEnded():
		w.to(podRemoving)
	}
}
