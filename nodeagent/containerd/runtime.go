package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	internalapi "k8s.io/cri-api/pkg/apis"
	cri "k8s.io/cri-client/pkg"
	"k8s.io/klog/v2"
)

// Runtime is a connection to a CRI runtime: one this package started
// (Start) or one that already runs (Connect).
type Runtime struct {
	// Endpoint is the CRI endpoint, "unix:///…/containerd.sock".
	Endpoint string
	// Runtime and Images are the CRI runtime and image services.
	Runtime internalapi.RuntimeService
	Images  internalapi.ImageManagerService

	logger      *slog.Logger
	cfg         Config // of a runtime we started
	procMu      sync.Mutex
	proc        *process // nil when connected to a runtime we did not start
	ctr         string   // ctr binary; "" for "ctr" on $PATH
	snapshotter string   // snapshotter images are unpacked for; "" for ctr's default
}

// callTimeout is cri-client's per-call timeout (RunPodSandbox gets twice
// as much); the kubelet uses 2 minutes.
const callTimeout = 2 * time.Minute

// Connect uses a runtime that is already running, as the kubelet's
// --container-runtime-endpoint does: it starts nothing and stops nothing.
// endpoint is "unix:///path" or a socket path.
func Connect(ctx context.Context, endpoint string, logger *slog.Logger) (*Runtime, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "unix://" + endpoint
	}
	r := &Runtime{Endpoint: endpoint, logger: logger}
	if err := r.dial(ctx, callTimeout); err != nil {
		return nil, err
	}
	return r, nil
}

// dial builds both CRI clients; the runtime client's build calls Version.
func (r *Runtime) dial(ctx context.Context, timeout time.Duration) error {
	ctx = WithLogger(ctx, r.logger)
	rs, err := cri.NewRemoteRuntimeServiceBuilder().WithEndpoint(r.Endpoint).
		WithConnectionTimeout(timeout).Build(ctx)
	if err != nil {
		return fmt.Errorf("connect to cri runtime %s: %w", r.Endpoint, err)
	}
	is, err := cri.NewRemoteImageServiceBuilder().WithEndpoint(r.Endpoint).
		WithConnectionTimeout(timeout).Build(ctx)
	if err != nil {
		rs.Close(ctx)
		return fmt.Errorf("connect to cri image service %s: %w", r.Endpoint, err)
	}
	r.Runtime, r.Images = rs, is
	return nil
}

// Close closes the CRI connections and, for a containerd this package
// started, stops it: SIGTERM, then SIGKILL after the grace period.
// Containers keep running under their shims; stop them first to leave
// nothing behind.
func (r *Runtime) Close() error {
	ctx := context.Background()
	var errs []error
	if r.Images != nil {
		errs = append(errs, r.Images.Close(ctx))
	}
	if r.Runtime != nil {
		errs = append(errs, r.Runtime.Close(ctx))
	}
	r.procMu.Lock()
	p := r.proc
	r.procMu.Unlock()
	if p != nil {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}

// Started reports whether this Runtime runs its own containerd.
func (r *Runtime) Started() bool { return r.cfg.Dir != "" }

// Address is the containerd socket path, for ctr and containerd's API.
func (r *Runtime) Address() string { return strings.TrimPrefix(r.Endpoint, "unix://") }

// StateDir is the state directory of the containerd this Runtime started
// ("" for one it did not start). With no container left, RemoveState
// removes it.
func (r *Runtime) StateDir() string { return r.cfg.StateDir }

// RemoveState removes the state directory of the containerd this Runtime
// started, once it has stopped (Close) and no container of it is left:
// nothing of it stays behind on the node.
func (r *Runtime) RemoveState() error {
	if !r.Started() {
		return nil
	}
	return os.RemoveAll(r.cfg.StateDir)
}

// LogPath is the file containerd logs to, or "" for a runtime we did not
// start.
func (r *Runtime) LogPath() string {
	if !r.Started() {
		return ""
	}
	return r.cfg.logPath()
}

// Unsupported reports whether err is the runtime saying it does not
// implement a CRI call (containerd 1.6 answers Unimplemented to
// RuntimeConfig, GetContainerEvents, ListMetricDescriptors,
// ListPodSandboxMetrics, UpdatePodSandboxResources, CheckpointContainer).
// Callers treat that as a missing feature, not a failure.
func Unsupported(err error) bool {
	return err != nil && status.Code(err) == codes.Unimplemented
}

// WithLogger returns ctx carrying logger for cri-client, which logs
// through klog's contextual logger.
func WithLogger(ctx context.Context, logger *slog.Logger) context.Context {
	return klog.NewContext(ctx, logr.FromSlogHandler(logger.Handler()))
}
