package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

type execResult struct {
	code int
	out  []byte
	err  error
}

// exec runs the probe's command through the container's Execer: exit 0 is
// a Success, any other code a Failure, as is running out of time. The
// call runs on its own goroutine so that an Execer that ignores ctx cannot
// hold the probe past its deadline; that goroutine ends when Exec returns.
func (pr *Prober) exec(ctx context.Context, e *corev1.ExecAction, ex Execer, c *corev1.Container) (Result, string, error) {
	if ex == nil {
		return Unknown, "", ErrNoExecer
	}
	cmd := expandCommand(e.Command, c.Env)
	done := make(chan execResult, 1)
	go func() {
		code, out, err := ex.Exec(ctx, cmd)
		done <- execResult{code, out, err}
	}()
	var r execResult
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	switch {
	case r.err == nil && r.code == 0:
		return Success, truncate(r.out), nil
	case r.err == nil:
		return Failure, truncate(r.out), nil
	case errors.Is(ctx.Err(), context.Canceled):
		return Unknown, "", ctx.Err()
	case errors.Is(r.err, context.DeadlineExceeded) || ctx.Err() != nil:
		return Failure, timedOut(ctx), nil
	default:
		return Unknown, "", fmt.Errorf("exec probe: %w", r.err)
	}
}

func timedOut(ctx context.Context) string {
	if d, ok := ctx.Deadline(); ok {
		return fmt.Sprintf("command timed out (deadline %s)", d.Format(time.RFC3339Nano))
	}
	return "command timed out"
}

// expandCommand replaces $(VAR) in an exec probe's command with the
// container's literal env values, as kubelet does (values from secrets or
// the downward API are not known here and stay as written). $$ is a
// literal $; an unknown $(VAR) is left alone.
func expandCommand(cmd []string, env []corev1.EnvVar) []string {
	vars := make(map[string]string, len(env))
	for _, e := range env {
		if e.ValueFrom == nil {
			vars[e.Name] = e.Value
		}
	}
	out := make([]string, len(cmd))
	for i, s := range cmd {
		out[i] = expand(s, vars)
	}
	return out
}

func expand(s string, vars map[string]string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b = append(b, s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b = append(b, '$')
			i++
		case '(':
			end := -1
			for j := i + 2; j < len(s); j++ {
				if s[j] == ')' {
					end = j
					break
				}
			}
			if end < 0 {
				b = append(b, s[i:]...)
				return string(b)
			}
			if v, ok := vars[s[i+2:end]]; ok {
				b = append(b, v...)
			} else {
				b = append(b, s[i:end+1]...)
			}
			i = end
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}
