package nodeagent

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/probe"
	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
)

// execOutputLimit bounds what an exec probe's output keeps.
const execOutputLimit = 10 << 10

// nsenterPath is util-linux's nsenter, which exec probes run through; ""
// when the node has none (exec probes then cannot run: Unknown).
var nsenterPath, _ = exec.LookPath("nsenter")

// newExecer runs exec probes in run's namespaces (mount, UTS, IPC, network,
// PID) with its environment and working directory, as `kubectl exec`
// would. The command does not join the container's cgroup.
func newExecer(run *noderuntime.Container) probe.Execer {
	if nsenterPath == "" {
		return nil
	}
	spec := run.Spec()
	env := spec.Env
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	dir := spec.WorkingDir
	if dir == "" {
		dir = "/"
	}
	pid := run.Pid()
	return probe.ExecFunc(func(ctx context.Context, cmd []string) (int, []byte, error) {
		if len(cmd) == 0 {
			return 0, nil, errors.New("exec probe: empty command")
		}
		args := []string{"--target", strconv.Itoa(pid), "--mount", "--uts", "--ipc", "--net", "--pid", "--wd=" + dir, "--"}
		c := exec.CommandContext(ctx, nsenterPath, append(args, cmd...)...)
		c.Env = env
		out := &limitedBuffer{max: execOutputLimit}
		c.Stdout, c.Stderr = out, out
		// nsenter forks into the PID namespace: kill both at the deadline.
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
		c.WaitDelay = time.Second
		err := c.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, out.Bytes(), nil
		case ctx.Err() != nil:
			return 0, out.Bytes(), ctx.Err()
		case errors.As(err, &ee):
			code := ee.ExitCode()
			if code < 0 {
				code = 137 // killed by a signal
			}
			return code, out.Bytes(), nil
		}
		return 0, out.Bytes(), err
	})
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
