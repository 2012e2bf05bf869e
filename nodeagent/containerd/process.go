package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/internal/netns"
)

// process is one run of a containerd we started.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // its exit status, valid after done
	grace   time.Duration
}

// Start writes containerd's configuration under cfg.Dir, starts containerd
// as a child process and returns once its CRI Version call answers. If
// containerd exits or does not answer within cfg.StartTimeout, Start stops
// it and returns an error with the tail of its log.
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg, err := cfg.defaults()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.Dir, cfg.rootDir(), cfg.StateDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("start containerd: %w", err)
		}
	}
	if err := cfg.Registries.writeHostsDir(cfg.hostsDir()); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	if err := os.WriteFile(cfg.configPath(), []byte(cfg.render()), 0o600); err != nil {
		return nil, fmt.Errorf("start containerd: write config: %w", err)
	}
	start := time.Now()
	p, err := startProcess(cfg)
	if err != nil {
		return nil, err
	}
	r := &Runtime{Endpoint: "unix://" + cfg.socketPath(), logger: cfg.Logger, proc: p, cfg: cfg, snapshotter: cfg.Snapshotter}
	if err := r.waitReady(ctx, p, cfg.StartTimeout, r.dial); err != nil {
		p.stop()
		return nil, fmt.Errorf("start containerd: %w (log %s:\n%s)", err, p.logPath, logTail(p.logPath, 20))
	}
	cfg.Logger.Info("containerd ready", "pid", p.cmd.Process.Pid, "endpoint", r.Endpoint,
		"log", p.logPath, "took", time.Since(start).Round(time.Millisecond))
	return r, nil
}

// startProcess starts containerd with the config Start wrote, in cfg.NetNS.
func startProcess(cfg Config) (*process, error) {
	if err := checkNotRunning(cfg.socketPath()); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(cfg.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start containerd: open log: %w", err)
	}
	cmd := exec.Command(cfg.Binary, "--config", cfg.configPath())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a terminal's ^C reaches the agent, which
	// stops containerd in order. It dies with the agent (netns.Start forks
	// it from a thread that lives as long as the process).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := netns.Start(cfg.NetNS, cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	p := &process{cmd: cmd, logPath: cfg.logPath(), done: make(chan struct{}), grace: cfg.StopTimeout}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited is closed when the containerd this Runtime started has exited
// (nil for a runtime it did not start). After Restart it is that of the
// new process.
func (r *Runtime) Exited() <-chan struct{} {
	r.procMu.Lock()
	defer r.procMu.Unlock()
	if r.proc == nil {
		return nil
	}
	return r.proc.done
}

// Pid is the process ID of the containerd this Runtime started (0 for one
// it did not start).
func (r *Runtime) Pid() int {
	r.procMu.Lock()
	defer r.procMu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.cmd.Process.Pid
}

// ExitError is how the containerd this Runtime started ended, once Exited
// is closed.
func (r *Runtime) ExitError() error {
	r.procMu.Lock()
	p := r.proc
	r.procMu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Restart starts containerd again with the same configuration after the
// one this Runtime started has exited (crashed, or killed), and returns
// once its CRI answers. The CRI clients reconnect to the new process by
// themselves; containers kept running under their shims, and containerd
// finds them again.
func (r *Runtime) Restart(ctx context.Context) error {
	r.procMu.Lock()
	old := r.proc
	r.procMu.Unlock()
	if old == nil {
		return errors.New("restart containerd: this runtime was not started here")
	}
	select {
	case <-old.done:
	default:
		return errors.New("restart containerd: it is still running")
	}
	p, err := startProcess(r.cfg)
	if err != nil {
		return err
	}
	r.procMu.Lock()
	r.proc = p
	r.procMu.Unlock()
	version := func(ctx context.Context, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(WithLogger(ctx, r.logger), timeout)
		defer cancel()
		_, err := r.Runtime.Version(ctx, "v1")
		return err
	}
	if err := r.waitReady(ctx, p, r.cfg.StartTimeout, version); err != nil {
		return fmt.Errorf("restart containerd: %w (log %s:\n%s)", err, p.logPath, logTail(p.logPath, 20))
	}
	r.logger.Info("containerd restarted", "pid", p.cmd.Process.Pid)
	return nil
}

// checkNotRunning refuses to start a second containerd on a socket that
// answers: two would share the state directory.
func checkNotRunning(socket string) error {
	if _, err := os.Stat(socket); err != nil {
		return nil
	}
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return nil // a stale socket: containerd replaces it
	}
	c.Close()
	return fmt.Errorf("start containerd: %s already answers: another containerd runs on this state directory", socket)
}

// waitReady polls until the socket exists and check (the CRI Version call)
// answers, the process p exits, or the timeout passes.
func (r *Runtime) waitReady(ctx context.Context, p *process, timeout time.Duration, check func(context.Context, time.Duration) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// A plain connect first: cri-client leaks its gRPC connection
		// when its Version check fails, so build it only once the socket
		// accepts (containerd listens after all plugins have loaded).
		if c, err := net.DialTimeout("unix", r.Address(), time.Second); err == nil {
			c.Close()
			// cri-client's connection timeout is also its timeout for
			// every later call: give it the per-call one (ctx still
			// bounds this wait).
			err := check(ctx, callTimeout)
			if err == nil {
				return nil
			}
			if Unsupported(err) {
				return fmt.Errorf("containerd answers but its CRI plugin did not load: %w", err)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("cri not ready after %s: %w", timeout, err)
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("containerd exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("cri not ready after %s: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, waits for the grace period, then sends SIGKILL.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop containerd: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(p.grace):
	}
	p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("stop containerd: did not exit within %s of SIGTERM; killed", p.grace)
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
