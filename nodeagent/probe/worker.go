package probe

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// worker runs one probe of one container run, kubelet's probe worker.
type worker struct {
	m      *Manager
	e      *entry
	kind   Kind
	p      *corev1.Probe
	period time.Duration

	// The run of equal results so far, for the thresholds.
	last  Result
	count int32
	// erroring is set while the probe cannot be run, to log that once.
	erroring bool
	// succeeded is set once the probe has passed.
	succeeded bool
}

// eagerDivisor sets how often a readiness probe that has never passed is
// retried: every tenth of its period. Kubernetes waits a whole period
// after a first failed attempt, so a server that listens a few
// milliseconds after its container starts is ready a period later (a
// second at best); retried eagerly it is ready within ~1/10 of that. Once
// the probe has passed, it runs every period, as in Kubernetes.
const eagerDivisor = 10

func newWorker(m *Manager, e *entry, kind Kind, p *corev1.Probe) *worker {
	return &worker{m: m, e: e, kind: kind, p: p, period: seconds(p.PeriodSeconds, DefaultPeriodSeconds, m.second)}
}

func (w *worker) run(ctx context.Context) {
	defer w.m.workers.Done()
	defer w.e.wg.Done()

	gated := w.kind != Startup && w.e.probes[Startup] != nil
	if gated {
		// Liveness and readiness wait for the startup probe, and then
		// run at once (initial delay permitting): no reason to keep a
		// started container unready for another period.
		select {
		case <-w.e.started:
		case <-ctx.Done():
			return
		}
	}
	now := w.m.clock.Now()
	first := w.e.c.StartedAt.Add(time.Duration(max(w.p.InitialDelaySeconds, 0)) * w.m.second)
	if !gated && w.e.c.StartedAt.Before(w.m.start) {
		// An agent that restarts adopts all its running containers at
		// once: spread their first probes over a period, as kubelet does,
		// so they do not run in lockstep ever after. Containers started
		// since are spread by their start times, and are not delayed (as
		// kubelet would in its first period), so a new pod is ready as
		// soon as it can be.
		if j := now.Add(time.Duration(w.m.rand() * float64(w.period))); j.After(first) {
			first = j
		}
	}
	if !w.sleepUntil(ctx, first) {
		return
	}
	for {
		start := w.m.clock.Now()
		if !w.probe(ctx) {
			return
		}
		next := start.Add(w.period)
		if w.kind == Readiness && !w.succeeded {
			next = start.Add(w.period / eagerDivisor)
		}
		if !w.sleepUntil(ctx, next) {
			return
		}
	}
}

// probe runs the probe once and applies the thresholds. It reports
// whether to go on probing.
func (w *worker) probe(ctx context.Context) bool {
	timeout := seconds(w.p.TimeoutSeconds, DefaultTimeoutSeconds, w.m.second)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	began := time.Now()
	r, output, err := w.m.prober.Probe(pctx, w.p, &w.e.c)
	cancel()
	if ctx.Err() != nil {
		return false // removed or shut down: the result means nothing
	}
	probes.WithLabelValues(w.kind.String(), r.String()).Inc()
	probeSeconds.WithLabelValues(w.kind.String()).Observe(time.Since(began).Seconds())
	if err != nil {
		// kubelet throws such a result away; so do we, saying so once.
		if !w.erroring {
			w.m.log.Warn("probe could not run", "pod", string(w.e.key.pod), "container", w.e.key.name,
				"probe", w.kind.String(), "err", err)
		}
		w.erroring = true
		return true
	}
	w.erroring = false
	if r == Success {
		w.succeeded = true
	}
	return w.apply(r, output)
}

// apply counts r towards the thresholds, as kubelet does: the state moves
// to r once r has come successThreshold (for Success) or failureThreshold
// (for Failure) times in a row.
func (w *worker) apply(r Result, output string) bool {
	if r == w.last {
		w.count++
	} else {
		w.last, w.count = r, 1
	}
	successes := max(w.p.SuccessThreshold, 1)
	if w.kind != Readiness {
		successes = 1 // the API requires it; liveness and startup act on one success
	}
	failures := max(w.p.FailureThreshold, 0)
	if failures == 0 {
		failures = DefaultFailureThreshold
	}
	if r == Failure && w.count < failures || r == Success && w.count < successes {
		return true
	}
	if !w.m.set(w.e, w.kind, r, output) {
		return false
	}
	if r == Failure && w.kind != Readiness {
		// The container is to be restarted: stop probing it (kubelet's
		// onHold) until it is added again with a new ID.
		w.m.log.Debug("probe failed", "pod", string(w.e.key.pod), "container", w.e.key.name, "probe", w.kind.String(), "output", output)
		return false
	}
	// A startup probe, once it succeeded, is done.
	return !(w.kind == Startup && r == Success)
}

// sleepUntil waits for t on the Manager's clock. It reports false if ctx
// ended first.
func (w *worker) sleepUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(w.m.clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := w.m.clock.NewTimer(d)
	select {
	case <-tm.C():
		return true
	case <-ctx.Done():
		tm.Stop()
		return false
	}
}
