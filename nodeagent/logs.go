package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoalmesh/shoal/nodeagent/podlog"
)

// ErrNotFound wraps the errors of Container, Sandbox and Logs for a pod or
// container that is not here (podlog.ErrNotFound, so that either matches).
var ErrNotFound = podlog.ErrNotFound

// Container log rotation, the kubelet's defaults: a log over 10 MiB is
// rotated, 5 files kept.
const (
	logMaxBytes      = 10 << 20
	logMaxFiles      = 5
	logRotatePeriod  = 10 * time.Second
	defaultContainer = "kubectl.kubernetes.io/default-container"
)

// Container resolves a pod bound to this node and one of its containers
// ("" for the pod's only one, or its kubectl.kubernetes.io/default-container)
// to the CRI ID of its running instance, for exec and attach.
func (a *Agent) Container(namespace, pod, container string) (string, error) {
	w, name, err := a.resolve(namespace, pod, container)
	if err != nil {
		return "", err
	}
	cv := w.viewOf().containers[name]
	if !cv.running {
		return "", fmt.Errorf("container %s of pod %s/%s is not running: %w", name, namespace, pod, ErrNotFound)
	}
	return cv.id, nil
}

// Sandbox resolves a pod bound to this node to its CRI sandbox ID, for
// port-forward.
func (a *Agent) Sandbox(namespace, pod string) (string, error) {
	w := a.findPod(namespace, pod)
	if w == nil {
		return "", fmt.Errorf("pod %s/%s on node %s: %w", namespace, pod, a.cfg.NodeName, ErrNotFound)
	}
	id := w.viewOf().sandboxID
	if id == "" {
		return "", fmt.Errorf("pod %s/%s has no sandbox running: %w", namespace, pod, ErrNotFound)
	}
	return id, nil
}

// resolve finds a pod's worker and the name of its container (the default
// one for "").
func (a *Agent) resolve(namespace, pod, container string) (*podWorker, string, error) {
	w := a.findPod(namespace, pod)
	if w == nil {
		return nil, "", fmt.Errorf("pod %s/%s on node %s: %w", namespace, pod, a.cfg.NodeName, ErrNotFound)
	}
	p, _ := w.snapshot()
	if container == "" {
		switch {
		case p.Annotations[defaultContainer] != "":
			container = p.Annotations[defaultContainer]
		case len(p.Spec.Containers) == 1:
			container = p.Spec.Containers[0].Name
		default:
			return nil, "", fmt.Errorf("a container name must be specified for pod %s, choose one of: %s: %w", pod, containerNames(p.Spec.Containers), ErrNotFound)
		}
	}
	if _, ok := w.viewOf().containers[container]; !ok {
		return nil, "", fmt.Errorf("container %s is not valid for pod %s: %w", container, pod, ErrNotFound)
	}
	return w, container, nil
}

func containerNames(cs []corev1.Container) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return "[" + strings.Join(names, " ") + "]"
}

// Logs writes a container's log to w per opts, from the runtime's log
// files, as the kubelet serves kubectl logs: the running (or last)
// instance's, or with Previous the one before (for a container waiting to
// restart, the one that last exited, as the kubelet does). Follow streams
// a running instance until it exits or ctx ends.
func (a *Agent) Logs(ctx context.Context, namespace, pod, container string, opts podlog.LogOptions, w io.Writer) error {
	pw, name, err := a.resolve(namespace, pod, container)
	if err != nil {
		return err
	}
	cv := pw.viewOf().containers[name]
	dir := filepath.Join(a.podLogDir(namespace, pod, pw.uid), name)
	cur := lastLogAtOrBelow(dir, int(cv.attempt))
	want := cur
	if opts.Previous && (cv.running || cv.ended) {
		want = lastLogAtOrBelow(dir, cur-1)
	}
	if want < 0 || !cv.ran {
		what := "container"
		if opts.Previous {
			what = "previous terminated container"
		}
		return fmt.Errorf("%s %q in pod %q not found: %w", what, name, pod, ErrNotFound)
	}
	running := func() bool { return false }
	if cv.running && want == int(cv.attempt) {
		id := cv.id
		running = func() bool { v := pw.viewOf().containers[name]; return v.running && v.id == id }
	}
	err = podlog.Read(ctx, filepath.Join(dir, strconv.Itoa(want)+".log"), opts, w, running)
	if errors.Is(err, podlog.ErrNotFound) {
		return fmt.Errorf("log of container %q in pod %q: %w", name, pod, ErrNotFound)
	}
	return err
}

// lastLogAtOrBelow is the highest n <= top with a log <n>.log in dir, -1
// if none.
func lastLogAtOrBelow(dir string, top int) int {
	entries, _ := os.ReadDir(dir)
	best := -1
	for _, e := range entries {
		s, ok := strings.CutSuffix(e.Name(), ".log")
		if n, err := strconv.Atoi(s); ok && err == nil && n <= top && n > best {
			best = n
		}
	}
	return best
}

// removeOldLogs removes a container's logs older than the previous
// instance's, once instance attempt runs.
func (a *Agent) removeOldLogs(pod *corev1.Pod, container string, attempt uint32) {
	dir := filepath.Join(a.podLogDir(pod.Namespace, pod.Name, pod.UID), container)
	prev := lastLogAtOrBelow(dir, int(attempt)-1)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		base, _, _ := strings.Cut(e.Name(), ".log")
		if n, err := strconv.Atoi(base); err == nil && n < prev {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// runLogRotation rotates the logs of running containers that grew over
// logMaxBytes, as the kubelet's container log manager does, and has the
// runtime reopen them.
func (a *Agent) runLogRotation(ctx context.Context) {
	t := time.NewTicker(logRotatePeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, w := range a.allWorkers() {
			for name, cv := range w.viewOf().containers {
				if cv.running {
					a.rotateLog(ctx, w.namespace, w.name, w.uid, name, cv)
				}
			}
		}
	}
}

func (a *Agent) rotateLog(ctx context.Context, namespace, pod string, uid types.UID, name string, cv ctrView) {
	path := filepath.Join(a.podLogDir(namespace, pod, uid), name, strconv.Itoa(int(cv.attempt))+".log")
	st, err := os.Stat(path)
	if err != nil || st.Size() < logMaxBytes {
		return
	}
	if err := podlog.Rotate(path, logMaxFiles); err != nil {
		a.log.Warn("rotate container log", "path", path, "err", err)
		return
	}
	if err := a.cri.ReopenContainerLog(ctx, cv.id); err != nil && ctx.Err() == nil {
		a.log.Warn("reopen container log", "path", path, "err", err)
	}
}
