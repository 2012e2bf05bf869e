package nodeagent

import (
	"context"
	"log/slog"
	"time"

	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criRuntime is what the agent uses of the CRI runtime service: sandboxes,
// containers, exec for probes and hooks, and stats. containerd's CRI
// client implements it (containerd.Runtime's Runtime); tests of the worker's
// own logic may give a fake.
type criRuntime interface {
	RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig, runtimeHandler string) (string, error)
	StopPodSandbox(ctx context.Context, podSandboxID string) error
	RemovePodSandbox(ctx context.Context, podSandboxID string) error
	PodSandboxStatus(ctx context.Context, podSandboxID string, verbose bool) (*runtimeapi.PodSandboxStatusResponse, error)
	ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)

	CreateContainer(ctx context.Context, podSandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	StartContainer(ctx context.Context, containerID string) error
	StopContainer(ctx context.Context, containerID string, timeout int64) error
	RemoveContainer(ctx context.Context, containerID string) error
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	ContainerStatus(ctx context.Context, containerID string, verbose bool) (*runtimeapi.ContainerStatusResponse, error)
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (stdout []byte, stderr []byte, err error)
	ReopenContainerLog(ctx context.Context, containerID string) error

	ListContainerStats(ctx context.Context, filter *runtimeapi.ContainerStatsFilter) ([]*runtimeapi.ContainerStats, error)
}

// criImages is what the agent uses of the CRI image service.
type criImages interface {
	ImageStatus(ctx context.Context, image *runtimeapi.ImageSpec, verbose bool) (*runtimeapi.ImageStatusResponse, error)
	PullImage(ctx context.Context, image *runtimeapi.ImageSpec, auth *runtimeapi.AuthConfig, podSandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
}

// containerd.Runtime's clients are these.
var (
	_ criRuntime = internalapi.RuntimeService(nil)
	_ criImages  = internalapi.ImageManagerService(nil)
)

// Labels the agent puts on its sandboxes and containers, the kubelet's,
// plus the node's name, by which it finds its own after a restart (a
// runtime given by endpoint may run others' too).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	labelNode          = "shoal.io/node"

	annotationRestartCount = "io.kubernetes.container.restartCount"
	annotationInit         = "shoal.io/init-container"
)

// criLogHandler passes cri-client's log records (klog's contextual
// logger, which logs every failed call as an error) on at debug level:
// the agent logs the failures it cares about itself, once.
type criLogHandler struct{ slog.Handler }

func (h criLogHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h criLogHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

func (h criLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return criLogHandler{h.Handler.WithAttrs(attrs)}
}

func (h criLogHandler) WithGroup(name string) slog.Handler {
	return criLogHandler{h.Handler.WithGroup(name)}
}
