package probe_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// script is an Execer whose commands exit with scripted codes: the first
// word of the command picks the script, each call takes the next code, and
// the last code repeats.
type script struct {
	mu    sync.Mutex
	codes map[string][]int
	calls map[string]int
}

func newScript(codes map[string][]int) *script {
	return &script{codes: codes, calls: map[string]int{}}
}

func (s *script) Exec(_ context.Context, cmd []string) (int, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	codes := s.codes[cmd[0]]
	n := s.calls[cmd[0]]
	s.calls[cmd[0]]++
	if len(codes) == 0 {
		return 0, nil, nil
	}
	code := codes[min(n, len(codes)-1)]
	return code, []byte(cmd[0] + " says " + map[bool]string{true: "ok", false: "no"}[code == 0]), nil
}

func (s *script) Calls(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func execProbe(name string, mod func(*corev1.Probe)) *corev1.Probe {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{name}}}}
	if mod != nil {
		mod(p)
	}
	return p
}

// nextUpdate waits for the Manager's next update.
func nextUpdate(t *testing.T, m *probe.Manager) probe.Update {
	t.Helper()
	select {
	case u, ok := <-m.Updates():
		if !ok {
			t.Fatal("updates closed")
		}
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update in 10s")
	}
	return probe.Update{}
}

// checkNoLeaks fails t if, within a few seconds, goroutines running this
// package's code remain, or more goroutines run than before (grpc and
// HTTP clients included). Tests using it must not be parallel.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			ours := probeGoroutines()
			n := runtime.NumGoroutine()
			if len(ours) == 0 && n <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines leaked: %d running, %d before; ours:\n%s", n, before, strings.Join(ours, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// probeGoroutines returns the stacks of goroutines in package probe's own
// code (its tests' frames are probe_test, which do not match).
func probeGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var ours []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "shoal/nodeagent/probe.") {
			ours = append(ours, g)
		}
	}
	return ours
}

// workerGoroutines returns the stacks of probe workers, which Remove and
// shutdown wait for (unlike an exec probe's call to its Execer, which ends
// when the Execer returns).
func workerGoroutines() []string {
	var ws []string
	for _, g := range probeGoroutines() {
		if strings.Contains(g, "probe.(*worker).run(") {
			ws = append(ws, g)
		}
	}
	return ws
}

func container(uid types.UID, spec corev1.Container, ex probe.Execer) probe.Container {
	return probe.Container{PodUID: uid, PodIP: "127.0.0.1", Spec: &spec, ID: "run-1", Exec: ex}
}

func intstrName(name string) intstr.IntOrString { return intstr.FromString(name) }
