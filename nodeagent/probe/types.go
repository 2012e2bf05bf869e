package probe

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Kind is which of a container's three probes a result belongs to.
type Kind int

// The probe kinds, in the order Kubernetes lists them.
const (
	Liveness Kind = iota
	Readiness
	Startup
)

var kindNames = [...]string{Liveness: "liveness", Readiness: "readiness", Startup: "startup"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Result is the outcome of a probe, or a probe's state after thresholds.
type Result int

// Unknown is the zero value: no result yet, or a probe that could not run.
const (
	Unknown Result = iota
	Success
	Failure
)

var resultNames = [...]string{Unknown: "unknown", Success: "success", Failure: "failure"}

func (r Result) String() string {
	if r < 0 || int(r) >= len(resultNames) {
		return "invalid"
	}
	return resultNames[r]
}

// Execer runs a command inside one container, as `kubectl exec` would, and
// returns its exit code and combined output. It must return once ctx is
// done (the probe's timeout), killing the command if it can; the probe
// fails at the deadline whether or not it does. A command that cannot be
// found or started is best reported as a shell reports it (exit code 127
// or 126, err nil), which fails the probe; a non-nil err means the probe
// could not be run at all, and is thrown away as Kubernetes does.
type Execer interface {
	Exec(ctx context.Context, cmd []string) (exitCode int, output []byte, err error)
}

// ExecFunc adapts a function to Execer, as http.HandlerFunc does.
type ExecFunc func(ctx context.Context, cmd []string) (int, []byte, error)

// Exec calls f.
func (f ExecFunc) Exec(ctx context.Context, cmd []string) (int, []byte, error) {
	return f(ctx, cmd)
}

// Container is one run of a container, as the Manager probes it.
type Container struct {
	PodUID types.UID
	// PodIP is where httpGet and tcpSocket probes without a host, and all
	// grpc probes, connect: the pod's IP (the node's for hostNetwork pods).
	PodIP string
	// Spec carries the container's name, ports (for probes that name
	// their port), env (for $(VAR) in exec commands) and probes. The
	// Manager copies it.
	Spec *corev1.Container
	// ID names this run of the container (the runtime's container ID or a
	// restart count). Adding the same container with a new ID means it was
	// restarted: its probes start over, startup probe and initial delays
	// included.
	ID string
	// StartedAt is when this run started; initialDelaySeconds count from
	// it. Zero means now.
	StartedAt time.Time
	// Exec runs exec probes in the container. Nil makes every exec probe
	// of the container unknown.
	Exec Execer
}

// Update reports that a probe's state changed after its thresholds were
// applied. What the agent does with it:
//   - Startup Success: the container has started; liveness and readiness
//     probes begin.
//   - Startup Failure or Liveness Failure: restart the container (per its
//     restartPolicy). Probing of that kind stops until the container is
//     added again with a new ID.
//   - Readiness Success or Failure: set the container's Ready condition.
type Update struct {
	PodUID    types.UID
	Container string
	// ContainerID is the Container.ID the result is about, so an update
	// about a run that has since been replaced can be recognised.
	ContainerID string
	Kind        Kind
	Result      Result
	// Output is what the last probe said: a failing command's output, an
	// HTTP status, a dial error. Meant for events and status messages.
	Output string
}
