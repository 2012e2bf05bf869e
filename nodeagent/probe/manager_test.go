package probe_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/probe"
	"github.com/shoalmesh/shoal/nodeagent/probe/probetest"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const period = 10 * time.Second // the default periodSeconds

// newTestManager returns a Manager on a fake clock whose start-up jitter
// is jitter of a period.
func newTestManager(t *testing.T, jitter float64) (*probe.Manager, *probetest.Clock) {
	t.Helper()
	clock := probetest.NewClock(epoch)
	m := probe.New(t.Context(), probe.Options{Version: "test", Clock: clock, Rand: func() float64 { return jitter }})
	t.Cleanup(m.Close)
	return m, clock
}

// waitTimers waits until n probe timers are set: the workers have probed
// and gone back to sleep.
func waitTimers(t *testing.T, clock *probetest.Clock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntil(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers (have %d): %v", n, clock.Timers(), err)
	}
}

func TestThresholds(t *testing.T) {
	t.Parallel()
	const S, F, U = probe.Success, probe.Failure, probe.Unknown
	cases := []struct {
		name  string
		kind  probe.Kind
		mod   func(*corev1.Probe)
		codes []int // exit codes of successive probes
		// The probe's state after each probe, and whether the worker
		// stops after the last one.
		states  []probe.Result
		stops   bool
		updates []probe.Result
	}{
		{
			name: "readiness defaults", kind: probe.Readiness,
			codes: []int{0, 1, 1, 1, 0}, states: []probe.Result{S, S, S, F, S}, updates: []probe.Result{S, F, S},
		},
		{
			name: "readiness failureThreshold 1", kind: probe.Readiness, mod: func(p *corev1.Probe) { p.FailureThreshold = 1 },
			codes: []int{0, 1, 0}, states: []probe.Result{S, F, S}, updates: []probe.Result{S, F, S},
		},
		{
			name: "readiness successThreshold 2", kind: probe.Readiness, mod: func(p *corev1.Probe) { p.SuccessThreshold = 2 },
			codes:  []int{0, 1, 0, 0, 1, 1, 1},
			states: []probe.Result{F, F, F, S, S, S, F}, updates: []probe.Result{S, F},
		},
		{
			name: "liveness failures must be consecutive", kind: probe.Liveness,
			codes: []int{1, 1, 0, 1, 1, 1}, states: []probe.Result{S, S, S, S, S, F}, stops: true, updates: []probe.Result{F},
		},
		{
			name: "liveness failureThreshold 1", kind: probe.Liveness, mod: func(p *corev1.Probe) { p.FailureThreshold = 1 },
			codes: []int{0, 1}, states: []probe.Result{S, F}, stops: true, updates: []probe.Result{F},
		},
		{
			name: "startup succeeds once, then stops", kind: probe.Startup,
			codes: []int{1, 1, 0}, states: []probe.Result{U, U, S}, stops: true, updates: []probe.Result{S},
		},
		{
			name: "startup successThreshold above 1 acts as 1", kind: probe.Startup, mod: func(p *corev1.Probe) { p.SuccessThreshold = 3 },
			codes: []int{0}, states: []probe.Result{S}, stops: true, updates: []probe.Result{S},
		},
		{
			name: "startup fails after failureThreshold", kind: probe.Startup, mod: func(p *corev1.Probe) { p.FailureThreshold = 2 },
			codes: []int{1, 1}, states: []probe.Result{U, F}, stops: true, updates: []probe.Result{F},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, clock := newTestManager(t, 0)
			ex := newScript(map[string][]int{"p": tc.codes})
			spec := corev1.Container{Name: "app"}
			p := execProbe("p", tc.mod)
			switch tc.kind {
			case probe.Liveness:
				spec.LivenessProbe = p
			case probe.Readiness:
				spec.ReadinessProbe = p
			case probe.Startup:
				spec.StartupProbe = p
			}
			if err := m.Add(container("pod-1", spec, ex)); err != nil {
				t.Fatal(err)
			}
			var states []probe.Result
			for i := range tc.codes {
				if i > 0 {
					clock.Advance(period)
				}
				if tc.stops && i == len(tc.codes)-1 {
					testenv.Eventually(t, 10*time.Second, "the last result", func() bool { return m.Result("pod-1", "app", tc.kind) == tc.states[i] })
				} else {
					waitTimers(t, clock, 1)
				}
				states = append(states, m.Result("pod-1", "app", tc.kind))
			}
			if !slices.Equal(states, tc.states) {
				t.Errorf("states = %v, want %v", states, tc.states)
			}
			for i, want := range tc.updates {
				u := nextUpdate(t, m)
				if u.PodUID != "pod-1" || u.Container != "app" || u.ContainerID != "run-1" || u.Kind != tc.kind || u.Result != want {
					t.Errorf("update %d = %+v, want %v %v", i, u, tc.kind, want)
				}
				if want := map[probe.Result]string{S: "p says ok", F: "p says no"}[want]; u.Output != want {
					t.Errorf("update %d output = %q, want %q", i, u.Output, want)
				}
			}
			if tc.stops {
				// On hold: no more probes of a container to be restarted,
				// nor of one that has started.
				clock.Advance(10 * period)
				if n := ex.Calls("p"); n != len(tc.codes) || clock.Timers() != 0 {
					t.Errorf("after stopping: %d probes, %d timers; want %d, 0", n, clock.Timers(), len(tc.codes))
				}
			}
		})
	}
}

func TestStartupGatesLivenessAndReadiness(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, 0)
	ex := newScript(map[string][]int{"start": {1, 1, 0}, "live": {0}, "ready": {0}})
	spec := corev1.Container{
		Name:           "app",
		StartupProbe:   execProbe("start", func(p *corev1.Probe) { p.FailureThreshold = 5 }),
		LivenessProbe:  execProbe("live", func(p *corev1.Probe) { p.InitialDelaySeconds = 25 }),
		ReadinessProbe: execProbe("ready", nil),
	}
	if err := m.Add(container("pod-1", spec, ex)); err != nil {
		t.Fatal(err)
	}
	waitTimers(t, clock, 1) // the startup probe's only
	for range 2 {
		if m.Started("pod-1", "app") || m.Ready("pod-1", "app") || m.Result("pod-1", "app", probe.Readiness) != probe.Failure {
			t.Fatal("started or ready before the startup probe succeeded")
		}
		clock.Advance(period)
		waitTimers(t, clock, 1)
	}
	// The startup probe succeeded at +20 s: readiness runs at once,
	// liveness at its initial delay of 25 s after the container started.
	if got := ex.Calls("start"); got != 3 {
		t.Fatalf("startup probes = %d, want 3", got)
	}
	if u := nextUpdate(t, m); u.Kind != probe.Startup || u.Result != probe.Success {
		t.Fatalf("update = %+v, want startup success", u)
	}
	if u := nextUpdate(t, m); u.Kind != probe.Readiness || u.Result != probe.Success {
		t.Fatalf("update = %+v, want readiness success", u)
	}
	waitTimers(t, clock, 2) // readiness's next period, liveness's initial delay
	if !m.Started("pod-1", "app") || !m.Ready("pod-1", "app") {
		t.Fatal("not started and ready after the startup and readiness probes succeeded")
	}
	if ex.Calls("live") != 0 || ex.Calls("ready") != 1 {
		t.Fatalf("live, ready probes = %d, %d; want 0, 1", ex.Calls("live"), ex.Calls("ready"))
	}
	clock.Advance(5 * time.Second)
	waitTimers(t, clock, 2)
	if ex.Calls("live") != 1 {
		t.Fatalf("liveness probes = %d at its initial delay, want 1", ex.Calls("live"))
	}
	for range 3 {
		clock.Advance(period)
		waitTimers(t, clock, 2)
	}
	if ex.Calls("start") != 3 || ex.Calls("live") != 4 || ex.Calls("ready") != 4 {
		t.Errorf("probes start, live, ready = %d, %d, %d; want 3, 4, 4", ex.Calls("start"), ex.Calls("live"), ex.Calls("ready"))
	}
}

func TestStartupFailureNeverRunsOthers(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, 0)
	ex := newScript(map[string][]int{"start": {1}})
	spec := corev1.Container{Name: "app", StartupProbe: execProbe("start", nil), LivenessProbe: execProbe("live", nil), ReadinessProbe: execProbe("ready", nil)}
	if err := m.Add(container("pod-1", spec, ex)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		waitTimers(t, clock, 1)
		clock.Advance(period)
	}
	if u := nextUpdate(t, m); u.Kind != probe.Startup || u.Result != probe.Failure {
		t.Fatalf("update = %+v, want startup failure", u)
	}
	clock.Advance(10 * period)
	if ex.Calls("start") != 3 || ex.Calls("live") != 0 || ex.Calls("ready") != 0 || clock.Timers() != 0 {
		t.Errorf("probes start, live, ready = %d, %d, %d, timers %d; want 3, 0, 0, 0", ex.Calls("start"), ex.Calls("live"), ex.Calls("ready"), clock.Timers())
	}
	if m.Started("pod-1", "app") || m.Ready("pod-1", "app") {
		t.Error("started or ready after the startup probe failed")
	}
}

func TestInitialDelay(t *testing.T) {
	t.Parallel()
	t.Run("counts from the container's start", func(t *testing.T) {
		t.Parallel()
		m, clock := newTestManager(t, 0)
		ex := newScript(nil)
		delay := func(p *corev1.Probe) { p.InitialDelaySeconds = 5 }
		spec := corev1.Container{Name: "app", LivenessProbe: execProbe("live", delay), ReadinessProbe: execProbe("ready", delay)}
		if err := m.Add(container("pod-1", spec, ex)); err != nil {
			t.Fatal(err)
		}
		waitTimers(t, clock, 2)
		// kubelet's initial values until the first probes.
		if m.Result("pod-1", "app", probe.Liveness) != probe.Success || m.Result("pod-1", "app", probe.Readiness) != probe.Failure ||
			m.Result("pod-1", "app", probe.Startup) != probe.Unknown || m.Ready("pod-1", "app") || !m.Started("pod-1", "app") {
			t.Fatal("wrong initial state")
		}
		clock.Advance(5*time.Second - time.Millisecond)
		if ex.Calls("live")+ex.Calls("ready") != 0 || clock.Timers() != 2 {
			t.Fatal("probed before the initial delay")
		}
		clock.Advance(time.Millisecond)
		waitTimers(t, clock, 2)
		if ex.Calls("live") != 1 || ex.Calls("ready") != 1 || !m.Ready("pod-1", "app") {
			t.Fatalf("after the initial delay: live, ready probes = %d, %d, ready %v", ex.Calls("live"), ex.Calls("ready"), m.Ready("pod-1", "app"))
		}
	})
	t.Run("already past for an adopted container", func(t *testing.T) {
		t.Parallel()
		m, clock := newTestManager(t, 0)
		ex := newScript(nil)
		spec := corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", func(p *corev1.Probe) { p.InitialDelaySeconds = 5 })}
		c := container("pod-1", spec, ex)
		c.StartedAt = epoch.Add(-time.Hour)
		if err := m.Add(c); err != nil {
			t.Fatal(err)
		}
		waitTimers(t, clock, 1)
		if ex.Calls("ready") != 1 {
			t.Fatalf("readiness probes = %d, want 1 at once", ex.Calls("ready"))
		}
	})
}

func TestJitter(t *testing.T) {
	t.Parallel()
	t.Run("spreads the first probes of adopted containers", func(t *testing.T) {
		t.Parallel()
		m, clock := newTestManager(t, 0.5)
		clock.Advance(time.Hour) // however long after the agent started
		ex := newScript(nil)
		c := container("pod-1", corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", nil)}, ex)
		c.StartedAt = epoch.Add(-time.Minute) // before the agent
		if err := m.Add(c); err != nil {
			t.Fatal(err)
		}
		waitTimers(t, clock, 1)
		clock.Advance(period/2 - time.Millisecond)
		if ex.Calls("ready") != 0 {
			t.Fatal("probed before the jitter")
		}
		clock.Advance(time.Millisecond)
		waitTimers(t, clock, 1)
		if ex.Calls("ready") != 1 {
			t.Fatalf("readiness probes = %d at half a period, want 1", ex.Calls("ready"))
		}
	})
	t.Run("does not delay new containers", func(t *testing.T) {
		t.Parallel()
		m, clock := newTestManager(t, 0.5)
		ex := newScript(nil)
		if err := m.Add(container("pod-1", corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", nil)}, ex)); err != nil {
			t.Fatal(err)
		}
		waitTimers(t, clock, 1)
		if ex.Calls("ready") != 1 {
			t.Fatalf("readiness probes = %d, want 1 at once", ex.Calls("ready"))
		}
	})
}

func TestRestartedContainer(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, 0)
	ex := newScript(map[string][]int{"live": {1, 0}, "ready": {0}})
	spec := corev1.Container{
		Name:           "app",
		LivenessProbe:  execProbe("live", func(p *corev1.Probe) { p.FailureThreshold = 1 }),
		ReadinessProbe: execProbe("ready", nil),
	}
	if err := m.Add(container("pod-1", spec, ex)); err != nil {
		t.Fatal(err)
	}
	got := map[probe.Kind]probe.Update{}
	for range 2 { // the two workers race
		u := nextUpdate(t, m)
		got[u.Kind] = u
	}
	if u := got[probe.Liveness]; u.Result != probe.Failure || u.ContainerID != "run-1" {
		t.Fatalf("liveness update = %+v, want failure of run-1", u)
	}
	if u := got[probe.Readiness]; u.Result != probe.Success || u.ContainerID != "run-1" {
		t.Fatalf("readiness update = %+v, want success of run-1", u)
	}
	waitTimers(t, clock, 1) // readiness only: liveness is on hold

	// The same run again changes nothing: liveness stays failed, unprobed.
	if err := m.Add(container("pod-1", spec, ex)); err != nil {
		t.Fatal(err)
	}
	if m.Result("pod-1", "app", probe.Liveness) != probe.Failure || clock.Timers() != 1 || ex.Calls("live") != 1 {
		t.Fatal("adding the same run again restarted its probes")
	}

	// The restarted container starts over, and says so.
	c := container("pod-1", spec, ex)
	c.ID = "run-2"
	if err := m.Add(c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []probe.Update{
		{PodUID: "pod-1", Container: "app", ContainerID: "run-2", Kind: probe.Liveness, Result: probe.Success, Output: "container restarted"},
		{PodUID: "pod-1", Container: "app", ContainerID: "run-2", Kind: probe.Readiness, Result: probe.Failure, Output: "container restarted"},
		{PodUID: "pod-1", Container: "app", ContainerID: "run-2", Kind: probe.Readiness, Result: probe.Success, Output: "ready says ok"},
	} {
		if u := nextUpdate(t, m); u != want {
			t.Fatalf("update = %+v, want %+v", u, want)
		}
	}
	waitTimers(t, clock, 2)
	if ex.Calls("live") != 2 || m.Result("pod-1", "app", probe.Liveness) != probe.Success || !m.Ready("pod-1", "app") {
		t.Fatalf("after restart: %d liveness probes, liveness %v, ready %v; want 2, success, true",
			ex.Calls("live"), m.Result("pod-1", "app", probe.Liveness), m.Ready("pod-1", "app"))
	}
}

func TestContainerWithoutProbes(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, 0)
	if m.Ready("pod-1", "app") || m.Started("pod-1", "app") {
		t.Fatal("an unknown container is ready or started")
	}
	if err := m.Add(container("pod-1", corev1.Container{Name: "app"}, nil)); err != nil {
		t.Fatal(err)
	}
	if !m.Ready("pod-1", "app") || !m.Started("pod-1", "app") || m.Result("pod-1", "app", probe.Readiness) != probe.Unknown || clock.Timers() != 0 {
		t.Fatal("a container without probes is not ready and started at once")
	}
}

func TestAddInvalid(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, 0)
	for _, c := range []probe.Container{
		{Spec: &corev1.Container{Name: "app"}},
		{PodUID: "pod-1"},
		{PodUID: "pod-1", Spec: &corev1.Container{}},
	} {
		if err := m.Add(c); !errors.Is(err, probe.ErrInvalidContainer) {
			t.Errorf("Add(%+v) = %v, want ErrInvalidContainer", c, err)
		}
	}
}

func TestUnrunnableProbeKeepsState(t *testing.T) {
	t.Parallel()
	// A named port the container does not have: kubelet neither passes
	// nor fails such a probe, it stays not ready.
	m, clock := newTestManager(t, 0)
	spec := corev1.Container{Name: "app", ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		TCPSocket: &corev1.TCPSocketAction{Port: intstrName("nope")},
	}}}
	if err := m.Add(container("pod-1", spec, nil)); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		waitTimers(t, clock, 1)
		clock.Advance(period)
	}
	waitTimers(t, clock, 1)
	if m.Result("pod-1", "app", probe.Readiness) != probe.Failure || m.Ready("pod-1", "app") {
		t.Fatal("an unrunnable readiness probe made the container ready")
	}
}

// TestRemove is not parallel: it checks for leaked goroutines.
func TestRemove(t *testing.T) {
	checkNoLeaks(t)
	m, clock := newTestManager(t, 0)
	inFlight := make(chan struct{})
	hang := probe.ExecFunc(func(ctx context.Context, cmd []string) (int, []byte, error) {
		if cmd[0] == "hang" {
			close(inFlight)
			<-ctx.Done()
			return -1, nil, ctx.Err()
		}
		return 0, nil, nil
	})
	long := func(p *corev1.Probe) { p.TimeoutSeconds = 3600 }
	for _, pod := range []types.UID{"pod-1", "pod-2"} {
		spec := corev1.Container{Name: "app", LivenessProbe: execProbe("ok", nil), ReadinessProbe: execProbe("ok", nil)}
		if err := m.Add(container(pod, spec, hang)); err != nil {
			t.Fatal(err)
		}
		spec = corev1.Container{Name: "sidecar", ReadinessProbe: execProbe("ok", nil)}
		if err := m.Add(container(pod, spec, hang)); err != nil {
			t.Fatal(err)
		}
	}
	spec := corev1.Container{Name: "stuck", LivenessProbe: execProbe("hang", long)}
	if err := m.Add(container("pod-3", spec, hang)); err != nil {
		t.Fatal(err)
	}
	waitTimers(t, clock, 6)
	<-inFlight

	m.Remove("pod-3", "stuck") // cancels the probe in flight
	m.Remove("pod-1", "app")
	if m.Ready("pod-1", "app") || m.Result("pod-1", "app", probe.Liveness) != probe.Unknown {
		t.Error("a removed container is still known")
	}
	if !m.Ready("pod-1", "sidecar") || !m.Ready("pod-2", "app") {
		t.Error("Remove took other containers with it")
	}
	if n := clock.Timers(); n != 4 {
		t.Errorf("timers after Remove = %d, want 4", n)
	}
	m.RemovePod("pod-2")
	if m.Ready("pod-2", "app") || m.Ready("pod-2", "sidecar") || !m.Ready("pod-1", "sidecar") {
		t.Error("RemovePod removed the wrong containers")
	}
	if n := clock.Timers(); n != 1 {
		t.Errorf("timers after RemovePod = %d, want 1", n)
	}
	m.Remove("pod-1", "sidecar")
	m.Remove("pod-1", "sidecar") // twice is fine
	if n := clock.Timers(); n != 0 {
		t.Errorf("timers after removing everything = %d, want 0", n)
	}
	// A worker has finished when Remove returns, but its goroutine may
	// take a moment more to exit.
	testenv.Eventually(t, 10*time.Second, "no probe workers", func() bool { return len(workerGoroutines()) == 0 })
}

// TestShutdown is not parallel: it checks for leaked goroutines.
func TestShutdown(t *testing.T) {
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	clock := probetest.NewClock(epoch)
	m := probe.New(ctx, probe.Options{Clock: clock, Rand: func() float64 { return 0 }})
	inFlight := make(chan struct{}, 10)
	hang := probe.ExecFunc(func(ctx context.Context, cmd []string) (int, []byte, error) {
		if cmd[0] == "hang" {
			inFlight <- struct{}{}
			<-ctx.Done()
			return -1, nil, ctx.Err()
		}
		return 1, nil, nil
	})
	long := func(p *corev1.Probe) { p.TimeoutSeconds = 3600 }
	for _, pod := range []types.UID{"pod-1", "pod-2", "pod-3"} {
		spec := corev1.Container{
			Name:           "app",
			StartupProbe:   execProbe("ok", nil), // fails, so liveness and readiness wait
			LivenessProbe:  execProbe("ok", nil),
			ReadinessProbe: execProbe("ok", nil),
		}
		if err := m.Add(container(pod, spec, hang)); err != nil {
			t.Fatal(err)
		}
		spec = corev1.Container{Name: "stuck", ReadinessProbe: execProbe("hang", long)}
		if err := m.Add(container(pod, spec, hang)); err != nil {
			t.Fatal(err)
		}
	}
	waitTimers(t, clock, 3)
	for range 3 {
		<-inFlight
	}
	// An update nobody reads must not hold up shutdown: the startup
	// probes fail for the third time at +20 s and queue updates.
	clock.Advance(period)
	waitTimers(t, clock, 3)
	clock.Advance(period)
	for _, pod := range []types.UID{"pod-1", "pod-2", "pod-3"} {
		testenv.Eventually(t, 10*time.Second, "startup failures", func() bool { return m.Result(pod, "app", probe.Startup) == probe.Failure })
	}

	cancel()
	for range m.Updates() {
		// Closed once everything has stopped.
	}
	testenv.Eventually(t, 10*time.Second, "no probe workers", func() bool { return len(workerGoroutines()) == 0 })
	if err := m.Add(container("pod-4", corev1.Container{Name: "app"}, nil)); !errors.Is(err, probe.ErrClosed) {
		t.Errorf("Add after shutdown = %v, want ErrClosed", err)
	}
	m.Close() // after cancel, and twice, is fine
	m.Close()
	// checkNoLeaks sees that everything else ends too.
}
