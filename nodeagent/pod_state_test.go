package nodeagent

import (
	"log/slog"
	"slices"
	"testing"
)

var allPodStates = []podState{podRunning, podEnding, podEnded, podStopping, podRemoving, podStopped, podDeleted}

// TestPodTransitions checks the transition table against the diagram in
// pod_state.go, written out again here, and that to refuses every other
// move and leaves the state as it was.
func TestPodTransitions(t *testing.T) {
	allowed := []string{
		"running→ending", "running→stopping",
		"ending→ended", "ending→removing",
		"ended→removing",
		"stopping→stopped", "removing→stopped",
		"stopped→deleted",
	}
	for _, from := range allPodStates {
		for _, to := range allPodStates {
			move := from.String() + "→" + to.String()
			want := slices.Contains(allowed, move)
			if got := canMove(from, to); got != want {
				t.Errorf("canMove %s = %v, want %v", move, got, want)
			}
			if want && to <= from {
				t.Errorf("%s moves backwards", move)
			}
			w := &podWorker{log: slog.New(slog.DiscardHandler), state: from}
			if ok := w.to(to); ok != want {
				t.Errorf("to %s = %v, want %v", move, ok, want)
			}
			if wantState := map[bool]podState{true: to, false: from}[want]; w.state != wantState {
				t.Errorf("after to %s: state %s, want %s", move, w.state, wantState)
			}
		}
	}
	if s := podState(len(allPodStates)).String(); s != "podState(7)" {
		t.Errorf("String of an unknown state: %q", s)
	}
}

// TestBeginStop: a pod that runs is stopped (and reported not ready), one
// that ended is removed (its final status kept); one on its way already,
// or stopped, stays where it is.
func TestBeginStop(t *testing.T) {
	want := map[podState]podState{
		podRunning:  podStopping,
		podEnding:   podRemoving,
		podEnded:    podRemoving,
		podStopping: podStopping,
		podRemoving: podRemoving,
		podStopped:  podStopped,
		podDeleted:  podDeleted,
	}
	for _, from := range allPodStates {
		w := &podWorker{log: slog.New(slog.DiscardHandler), state: from}
		w.beginStop()
		if w.state != want[from] {
			t.Errorf("beginStop from %s: %s, want %s", from, w.state, want[from])
		}
		if !w.state.stopping() {
			t.Errorf("beginStop from %s: %s is not reported as stopping", from, w.state)
		}
	}
}
