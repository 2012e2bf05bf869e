package probe_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/probe"
	corev1 "k8s.io/api/core/v1"
)

func TestExec(t *testing.T) {
	t.Parallel()
	errBroken := errors.New("runtime broken")
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })

	cases := []struct {
		name    string
		exec    probe.Execer // nil: no Execer
		cmd     []string
		env     []corev1.EnvVar
		timeout time.Duration // ctx deadline; 0 = the probe's timeoutSeconds (1)
		want    probe.Result
		wantErr error
		output  string
	}{
		{name: "exit 0", exec: exitWith(0, "fine"), want: probe.Success, output: "fine"},
		{name: "exit 1", exec: exitWith(1, "broken"), want: probe.Failure, output: "broken"},
		{name: "exit 127 (not found)", exec: exitWith(127, "sh: nope: not found"), want: probe.Failure, output: "not found"},
		{name: "execer error", exec: probe.ExecFunc(func(context.Context, []string) (int, []byte, error) { return 0, nil, errBroken }), want: probe.Unknown, wantErr: errBroken},
		{name: "no execer", want: probe.Unknown, wantErr: probe.ErrNoExecer},
		{name: "output capped at 10 KiB", exec: exitWith(1, strings.Repeat("x", 20<<10)), want: probe.Failure, output: strings.Repeat("x", 10<<10)},
		{
			name: "hangs past the deadline, honouring ctx",
			exec: probe.ExecFunc(func(ctx context.Context, _ []string) (int, []byte, error) {
				<-ctx.Done()
				return -1, nil, ctx.Err()
			}),
			timeout: 100 * time.Millisecond, want: probe.Failure, output: "timed out",
		},
		{
			name: "hangs past timeoutSeconds, ignoring ctx",
			exec: probe.ExecFunc(func(context.Context, []string) (int, []byte, error) {
				<-block
				return 0, nil, nil
			}),
			want: probe.Failure, output: "timed out",
		},
		{
			name: "$(VAR) from env",
			exec: probe.ExecFunc(func(_ context.Context, cmd []string) (int, []byte, error) {
				want := []string{"check", "--port=8080", "$(SECRET)", "$(NOPE)", "$(PORT)", "cost $5"}
				if !slices.Equal(cmd, want) {
					return 1, []byte(strings.Join(cmd, " ")), nil
				}
				return 0, nil, nil
			}),
			cmd:  []string{"check", "--port=$(PORT)", "$(SECRET)", "$(NOPE)", "$$(PORT)", "cost $5"},
			env:  []corev1.EnvVar{{Name: "PORT", Value: "8080"}, {Name: "SECRET", ValueFrom: &corev1.EnvVarSource{}}},
			want: probe.Success,
		},
	}
	pr := probe.NewProber("test")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := tc.cmd
			if cmd == nil {
				cmd = []string{"true"}
			}
			c := probe.Container{Spec: &corev1.Container{Name: "app", Env: tc.env}, Exec: tc.exec}
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}}
			got, out, err := pr.Probe(ctx, p, &c)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Probe = %v, %.80q, %v; want %v, %v", got, out, err, tc.want, tc.wantErr)
			}
			if !strings.Contains(out, tc.output) || len(out) > 10<<10 {
				t.Errorf("output %.80q (%d bytes) does not contain %.80q", out, len(out), tc.output)
			}
		})
	}
}

func exitWith(code int, output string) probe.Execer {
	return probe.ExecFunc(func(context.Context, []string) (int, []byte, error) {
		return code, bytes.Clone([]byte(output)), nil
	})
}
