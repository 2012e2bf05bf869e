package nodeagent

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// execOutputLimit bounds what an exec probe's or hook's output keeps.
const execOutputLimit = 10 << 10

// exitCoder is the error cri-client's ExecSync returns for a command that
// exited non-zero (k8s.io/utils/exec.CodeExitError).
type exitCoder interface{ ExitStatus() int }

// execer runs exec probes and hooks in container id through the runtime's
// ExecSync, in the container's namespaces, cgroup, user and environment,
// as `kubectl exec` would.
func (a *Agent) execer(id string) probe.Execer {
	return probe.ExecFunc(func(ctx context.Context, cmd []string) (int, []byte, error) {
		if len(cmd) == 0 {
			return 0, nil, errors.New("exec: empty command")
		}
		var timeout time.Duration
		if d, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(d), time.Second)
		}
		stdout, stderr, err := a.cri.ExecSync(ctx, id, cmd, timeout)
		out := append(stdout, stderr...)
		if len(out) > execOutputLimit {
			out = out[:execOutputLimit]
		}
		var ec exitCoder
		switch {
		case err == nil:
			return 0, out, nil
		case errors.As(err, &ec):
			return ec.ExitStatus(), out, nil
		case ctx.Err() != nil:
			return 0, out, ctx.Err()
		case strings.Contains(err.Error(), "executable file not found"), strings.Contains(err.Error(), "no such file or directory"):
			return 127, []byte(err.Error()), nil // as a shell reports it
		}
		return 0, out, err
	})
}
