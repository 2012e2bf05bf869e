package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/ociimage"
)

// runtimeHealth is whether the container runtime answers, as the node's
// Ready condition reports it.
type runtimeHealth struct {
	down atomic.Pointer[string] // why it is down; nil when up
}

func (h *runtimeHealth) set(why string) {
	if why == "" {
		h.down.Store(nil)
		return
	}
	h.down.Store(&why)
}

// problem is why the runtime is down, "" when it is up.
func (h *runtimeHealth) problem() string {
	if p := h.down.Load(); p != nil {
		return *p
	}
	return ""
}

// startRuntime connects the agent to its container runtime: a containerd
// of its own, started in the node's namespace with its config, root and
// log under DataDir/containerd, or the one at Config.RuntimeEndpoint. Then
// it imports the built-in pause and empty images (never pulled) and the
// archives in ImagesDir.
func (a *Agent) startRuntime(ctx context.Context) error {
	pause, err := ociimage.Pause("")
	if err != nil {
		return err
	}
	empty, err := ociimage.Empty("")
	if err != nil {
		return err
	}
	a.emptyImage = empty.Ref
	log := a.log.With("component", "containerd")
	if a.cfg.RuntimeEndpoint != "" {
		a.rt, err = containerd.Connect(ctx, a.cfg.RuntimeEndpoint, log)
	} else {
		a.rt, err = containerd.Start(ctx, containerd.Config{
			Dir:          filepath.Join(a.cfg.DataDir, "containerd"),
			SandboxImage: pause.Ref,
			CNIBinDir:    a.cfg.CNIBinDir,
			CNIConfDir:   a.cfg.CNIConfDir,
			Registries:   a.cfg.Registries,
			NetNS:        a.cfg.NetNS,
			Logger:       log,
		})
	}
	if err != nil {
		return err
	}
	a.cri, a.images = a.rt.Runtime, a.rt.Images
	a.runtimeVersion = runtimeVersion(ctx, a.rt)
	for _, img := range []*ociimage.Built{pause, empty} {
		if err := a.rt.EnsureBuilt(ctx, img); err != nil {
			a.rt.Close()
			return err
		}
	}
	if err := a.rt.ImportDir(ctx, a.cfg.ImagesDir); err != nil {
		a.log.Warn("import image archives", "dir", a.cfg.ImagesDir, "err", err)
	}
	return nil
}

// Restart back-off of a containerd that died.
const (
	runtimeRestartBase = time.Second
	runtimeRestartMax  = 30 * time.Second
)

// watchRuntime restarts the agent's own containerd when it dies: the node
// is reported NotReady meanwhile (its pods keep running under their
// shims, and containerd finds them again).
func (a *Agent) watchRuntime(ctx context.Context) {
	if !a.rt.Started() {
		return
	}
	delay := runtimeRestartBase
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.rt.Exited():
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Error("containerd exited; restarting it", "err", a.rt.ExitError(), "log", a.rt.LogPath())
		a.health.set("container runtime is down: containerd exited")
		for {
			err := a.rt.Restart(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			a.log.Error("restart containerd", "err", err, "retry_in", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, runtimeRestartMax)
		}
		delay = runtimeRestartBase
		a.health.set("")
	}
}

// criContext is ctx carrying the logger cri-client logs through.
func (a *Agent) criContext(ctx context.Context) context.Context {
	return containerd.WithLogger(ctx, slog.New(criLogHandler{a.log.Handler()}).With("component", "cri"))
}

// closeRuntime closes the CRI connection and stops the agent's own
// containerd (after the pods were stopped, or kept).
func (a *Agent) closeRuntime() {
	if a.rt == nil {
		return
	}
	if err := a.rt.Close(); err != nil {
		a.log.Error("stop containerd", "err", err)
	}
}

func runtimeVersion(ctx context.Context, rt *containerd.Runtime) string {
	v, err := rt.Runtime.Version(ctx, "v1")
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s://%s", v.RuntimeName, v.RuntimeVersion)
}
