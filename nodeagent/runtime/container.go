package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// Container is one running (or exited) instance of a container. Its methods
// are safe for concurrent use.
type Container struct {
	rt        *Runtime
	spec      Spec
	pid       int
	cgroup    string
	stateDir  string
	startedAt time.Time

	proc *os.Process // the init, when this process started it
	ref  *procRef    // the init, when adopted

	killed atomic.Bool // SIGKILL was sent: an init that left no exit record died of it
	done   chan struct{}
	status ExitStatus // set before done is closed
}

// ExitStatus is how a container instance ended.
type ExitStatus struct {
	// Code is the main process's exit code, 128+n when signal n killed it
	// (137 for SIGKILL), as Kubernetes reports.
	Code int
	// Signal killed the main process; 0 if it exited.
	Signal syscall.Signal
	// OOMKilled: the OOM killer killed a process of the container (its
	// memory limit was exceeded) and it ended with a non-zero code.
	OOMKilled bool
	// Unknown: the container ended while no Runtime watched it and left no
	// record of how (its init was SIGKILLed from outside).
	Unknown    bool
	StartedAt  time.Time
	FinishedAt time.Time
}

// Reason is the Kubernetes container state reason for the status.
func (s ExitStatus) Reason() string {
	switch {
	case s.OOMKilled:
		return "OOMKilled"
	case s.Unknown:
		return "ContainerStatusUnknown"
	case s.Code == 0:
		return "Completed"
	default:
		return "Error"
	}
}

// Stats is a container's resource use, read from its cgroup.
type Stats struct {
	CPU         time.Duration // CPU time consumed since the start; rate = ΔCPU/Δt
	MemoryUsage uint64        // bytes charged, page cache included
	// MemoryWorkingSet is usage minus inactive file pages: what kubectl top
	// and the kubelet's eviction call memory use.
	MemoryWorkingSet uint64
}

// Spec is the spec the container was started with (from the state record
// if adopted).
func (c *Container) Spec() Spec { return c.spec.clone() }

// Pid is the node PID of the container's init, PID 1 of its namespaces
// (nsenter --target Pid enters them).
func (c *Container) Pid() int { return c.pid }

// StartedAt is when the container was started.
func (c *Container) StartedAt() time.Time { return c.startedAt }

// Adopted reports whether a previous Runtime started the container.
func (c *Container) Adopted() bool { return c.ref != nil }

// Done is closed when the container has exited and its cgroup and state
// are removed; Wait then returns at once.
func (c *Container) Done() <-chan struct{} { return c.done }

// Wait returns the container's exit status once it has exited.
func (c *Container) Wait(ctx context.Context) (ExitStatus, error) {
	select {
	case <-c.done:
		return c.status, nil
	default:
	}
	select {
	case <-c.done:
		return c.status, nil
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	case <-c.rt.closed:
		return ExitStatus{}, ErrClosed
	}
}

// Signal sends sig to the container's init, which forwards it to the main
// process; SIGKILL kills the init and with it the whole PID namespace.
func (c *Container) Signal(sig syscall.Signal) error {
	select {
	case <-c.done:
		return ErrNotRunning
	default:
	}
	if c.rt.isClosed() {
		return ErrClosed
	}
	if sig == syscall.SIGKILL {
		c.killed.Store(true)
	}
	if c.ref != nil {
		return c.ref.signal(sig)
	}
	// os.Process signals through a pidfd: never a process that reused the PID.
	if err := c.proc.Signal(sig); errors.Is(err, os.ErrProcessDone) {
		return ErrNotRunning
	} else if err != nil {
		return err
	}
	return nil
}

// Stop ends the container as Kubernetes does: SIGTERM (forwarded to the main
// process), then SIGKILL to the whole PID namespace when grace has passed.
// It returns the exit status, or ctx's error if ctx ends first (the
// container may then still be running).
func (c *Container) Stop(ctx context.Context, grace time.Duration) (ExitStatus, error) {
	if err := c.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, ErrNotRunning) {
		return ExitStatus{}, err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return c.status, nil
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	case <-c.rt.closed:
		return ExitStatus{}, ErrClosed
	case <-t.C:
	}
	if err := c.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
		return ExitStatus{}, err
	}
	return c.Wait(ctx)
}

// Stats reads the container's CPU and memory use from its cgroup.
func (c *Container) Stats() (Stats, error) {
	select {
	case <-c.done:
		return Stats{}, ErrNotRunning
	default:
	}
	return c.rt.cg.stats(c.cgroup)
}

// watchChild reaps an init this process started.
func (c *Container) watchChild(cmd *exec.Cmd) {
	cmd.Wait() // its error is the init's exit status, read below
	var ws *syscall.WaitStatus
	if s, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		ws = &s
	}
	c.exited(ws)
}

// watchAdopted waits for an adopted init to exit (its parent, now the node's
// init or a subreaper, reaps it).
func (c *Container) watchAdopted() {
	defer c.ref.close()
	if c.ref.wait(c.rt.closed) {
		c.exited(nil)
	}
}

// exited records the exit status and removes the cgroup and state record,
// unless the Runtime was closed: then the next one does that on Adopt.
func (c *Container) exited(ws *syscall.WaitStatus) {
	c.rt.life.RLock()
	defer c.rt.life.RUnlock()
	if c.rt.isClosed() {
		return
	}
	c.status = c.rt.collect(c.stateDir, c.cgroup, ws, c.killed.Load(), c.startedAt)
	c.rt.cleanup(c.cgroup, c.stateDir)
	c.rt.forget(c)
	close(c.done)
}

// collect works out how a container ended: from the init's exit record, else
// from the init's wait status, else from whether we killed it.
func (r *Runtime) collect(stateDir, cgroup string, ws *syscall.WaitStatus, killed bool, started time.Time) ExitStatus {
	st := ExitStatus{StartedAt: started}
	if er, err := readExit(stateDir); err == nil {
		st.Code, st.Signal, st.FinishedAt = er.Code, syscall.Signal(er.Signal), er.FinishedAt
	} else if ws != nil && ws.Signaled() {
		st.Signal = ws.Signal()
		st.Code = 128 + int(st.Signal)
	} else if ws != nil && ws.Exited() {
		st.Code = ws.ExitStatus()
	} else if killed {
		st.Signal, st.Code = syscall.SIGKILL, 128+int(syscall.SIGKILL)
	} else {
		st.Unknown, st.Code = true, 128+int(syscall.SIGKILL)
	}
	if st.FinishedAt.IsZero() {
		st.FinishedAt = time.Now()
	}
	if n, err := r.cg.oomKills(cgroup); err == nil && n > 0 && st.Code != 0 {
		st.OOMKilled = true
	}
	return st
}
