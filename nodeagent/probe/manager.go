package probe

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Options configure a Manager. The zero value is usable.
type Options struct {
	// Version goes into the probes' User-Agent, shoal-probe/<Version>.
	Version string
	Logger  *slog.Logger
	// Clock schedules probes; nil is the real clock.
	Clock Clock
	// Rand returns a number in [0, 1) to spread the first probes of
	// containers that started before the Manager; nil is
	// math/rand/v2.Float64.
	Rand func() float64
	// Second is how long one second of a probe's initialDelaySeconds,
	// periodSeconds and timeoutSeconds lasts; zero is time.Second. A hook
	// for tests that want real sub-second periods.
	Second time.Duration
	// Dial opens the connections of httpGet, tcpSocket and grpc probes;
	// nil is DialContext, from the process's own network namespace. An
	// agent whose node is another namespace dials from inside it, so that
	// a probe of 127.0.0.1 (a hostNetwork pod's) reaches its node.
	Dial DialFunc
}

// Manager runs the probes of the containers it is given, each on its own
// goroutine and timer, and reports changes of their thresholded results on
// Updates. It is safe for concurrent use.
type Manager struct {
	prober *Prober
	log    *slog.Logger
	clock  Clock
	rand   func() float64
	second time.Duration
	start  time.Time

	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup
	updates chan Update
	wake    chan struct{}
	stopped chan struct{}

	mu         sync.Mutex
	closed     bool
	containers map[containerKey]*entry
	pending    []Update
}

type containerKey struct {
	pod  types.UID
	name string
}

// entry is one run of a container and its probe workers.
type entry struct {
	key       containerKey
	c         Container
	probes    [3]*corev1.Probe // by Kind
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	started   chan struct{} // closed once the startup probe succeeded, or at once without one
	results   [3]Result     // by Kind; guarded by Manager.mu
	isStarted bool          // guarded by Manager.mu
}

// New returns a Manager that probes until ctx is cancelled or Close is
// called.
func New(ctx context.Context, opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Second <= 0 {
		opts.Second = time.Second
	}
	m := &Manager{
		prober:     newProber(opts.Version, opts.Dial),
		log:        opts.Logger.With("component", "probe"),
		clock:      opts.Clock,
		rand:       opts.Rand,
		second:     opts.Second,
		start:      opts.Clock.Now(),
		updates:    make(chan Update),
		wake:       make(chan struct{}, 1),
		stopped:    make(chan struct{}),
		containers: map[containerKey]*entry{},
	}
	m.ctx, m.cancel = context.WithCancel(ctx)
	go m.deliver()
	return m
}

// Updates delivers every change of a probe's state, in order per
// container. It is closed once the Manager has stopped and all its
// goroutines have exited. Updates wait in an unbounded queue, so a slow
// reader never holds up probing; an update queued for a container before
// it was removed may still arrive after Remove returns (compare
// ContainerID).
func (m *Manager) Updates() <-chan Update { return m.updates }

// Close stops every probe and waits until all the Manager's goroutines
// have exited. Cancelling New's ctx does the same without the wait.
func (m *Manager) Close() {
	m.cancel()
	<-m.stopped
}

// Add starts probing a container run. Adding the same run (pod UID,
// container name and ID) again does nothing, so the agent can add on every
// sync. A new ID replaces the old run's probes, which start over from
// kubelet's initial values; each probe state that differs from the old
// run's is reported as an Update with the new ID (a ready container that
// restarts becomes not ready, a started one not started). A container with
// no probes is tracked too: Ready and Started report true for it.
func (m *Manager) Add(c Container) error {
	if c.PodUID == "" || c.Spec == nil || c.Spec.Name == "" {
		return fmt.Errorf("add probes: %w", ErrInvalidContainer)
	}
	k := containerKey{c.PodUID, c.Spec.Name}
	m.mu.Lock()
	if m.closed || m.ctx.Err() != nil {
		m.mu.Unlock()
		return ErrClosed
	}
	old := m.containers[k]
	if old != nil && old.c.ID == c.ID {
		m.mu.Unlock()
		return nil
	}
	c.Spec = c.Spec.DeepCopy()
	if c.StartedAt.IsZero() {
		c.StartedAt = m.clock.Now()
	}
	e := &entry{
		key:     k,
		c:       c,
		probes:  [3]*corev1.Probe{Liveness: c.Spec.LivenessProbe, Readiness: c.Spec.ReadinessProbe, Startup: c.Spec.StartupProbe},
		started: make(chan struct{}),
		// kubelet's initial values: alive until proven otherwise, not
		// ready until proven so, startup undecided.
		results: [3]Result{Liveness: Success, Readiness: Failure, Startup: Unknown},
	}
	if e.probes[Startup] == nil {
		e.isStarted = true
		close(e.started)
	}
	var ctx context.Context
	ctx, e.cancel = context.WithCancel(m.ctx)
	m.containers[k] = e
	if old != nil {
		// As kubelet does for a new container ID, say that the new run's
		// states start over, where they differ from the old run's.
		for kind, r := range e.results {
			if e.probes[kind] != nil && old.results[kind] != r {
				m.queueLocked(Update{PodUID: k.pod, Container: k.name, ContainerID: c.ID, Kind: Kind(kind), Result: r, Output: "container restarted"})
			}
		}
	}
	for kind, p := range e.probes {
		if p == nil {
			continue
		}
		w := newWorker(m, e, Kind(kind), p)
		e.wg.Add(1)
		m.workers.Add(1)
		go w.run(ctx)
	}
	m.mu.Unlock()
	m.log.Debug("probing container", "pod", string(k.pod), "container", k.name, "id", c.ID)
	if old != nil {
		old.stop()
	}
	return nil
}

// Remove stops probing a container and waits until its probes have
// stopped; a probe in flight is cancelled, not waited out.
func (m *Manager) Remove(podUID types.UID, container string) {
	k := containerKey{podUID, container}
	m.mu.Lock()
	e := m.containers[k]
	delete(m.containers, k)
	m.mu.Unlock()
	if e != nil {
		e.stop()
	}
}

// RemovePod stops probing every container of a pod.
func (m *Manager) RemovePod(podUID types.UID) {
	var gone []*entry
	m.mu.Lock()
	for k, e := range m.containers {
		if k.pod == podUID {
			gone = append(gone, e)
			delete(m.containers, k)
		}
	}
	m.mu.Unlock()
	for _, e := range gone {
		e.stop()
	}
}

// Result is the current state of one probe of a container: kubelet's
// initial value (Liveness Success, Readiness Failure, Startup Unknown)
// until thresholds decide otherwise. It is Unknown for a container that is
// not being probed or a probe it does not have.
func (m *Manager) Result(podUID types.UID, container string, kind Kind) Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.containers[containerKey{podUID, container}]
	if e == nil || kind < 0 || int(kind) >= len(e.probes) || e.probes[kind] == nil {
		return Unknown
	}
	return e.results[kind]
}

// Started reports whether a container's startup probe has succeeded, or
// true if it has none. False for a container that is not being probed.
func (m *Manager) Started(podUID types.UID, container string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.containers[containerKey{podUID, container}]
	return e != nil && e.isStarted
}

// Ready is kubelet's container readiness as far as probes decide it: the
// container has started (Started) and its readiness probe has succeeded,
// or it has no readiness probe. Whether the container is running at all is
// the agent's to know: it should only ask about containers it has added
// and not removed. False for a container that is not being probed.
func (m *Manager) Ready(podUID types.UID, container string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.containers[containerKey{podUID, container}]
	return e != nil && e.isStarted && (e.probes[Readiness] == nil || e.results[Readiness] == Success)
}

// set records a probe's thresholded result for e and queues an Update if
// it changed. It reports false if e is no longer the container's current
// run, which tells the worker to stop.
func (m *Manager) set(e *entry, kind Kind, r Result, output string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.containers[e.key] != e {
		return false
	}
	if kind == Startup && r == Success && !e.isStarted {
		e.isStarted = true
		close(e.started)
	}
	if e.results[kind] == r {
		return true
	}
	e.results[kind] = r
	m.queueLocked(Update{
		PodUID: e.key.pod, Container: e.key.name, ContainerID: e.c.ID,
		Kind: kind, Result: r, Output: output,
	})
	return true
}

// queueLocked queues u for deliver; m.mu is held.
func (m *Manager) queueLocked(u Update) {
	m.pending = append(m.pending, u)
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// deliver moves queued updates to the Updates channel until the Manager
// stops, then waits for the workers and closes it.
func (m *Manager) deliver() {
	defer close(m.stopped)
	defer close(m.updates)
	defer func() {
		m.mu.Lock()
		m.closed = true // no worker starts after this, so Wait is safe
		m.mu.Unlock()
		m.workers.Wait()
	}()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.wake:
		}
		for {
			m.mu.Lock()
			if len(m.pending) == 0 {
				m.pending = nil
				m.mu.Unlock()
				break
			}
			u := m.pending[0]
			m.pending = m.pending[1:]
			m.mu.Unlock()
			select {
			case m.updates <- u:
			case <-m.ctx.Done():
				return
			}
		}
	}
}

func (e *entry) stop() {
	e.cancel()
	e.wg.Wait()
}
