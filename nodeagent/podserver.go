package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/shoalmesh/shoal/api"
	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
	"github.com/shoalmesh/shoal/nodeagent/server"
)

// newServer prepares the node server (nodeagent/server) on the agent's
// pods: its serving certificate (kept in DataDir/pki, signed by the API
// server on the node's token), logs from the runtime, /healthz and
// /metrics. Call it once the Node is registered: the API server signs only
// the addresses the Node reports.
func (a *Agent) newServer(ctx context.Context) (*server.Server, error) {
	cert, err := server.LoadOrRequestCertificate(ctx, a.cfg.REST, a.cfg.NodeName, []netip.Addr{a.cfg.NodeIP}, filepath.Join(a.cfg.DataDir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("node server: %w", err)
	}
	return server.New(server.Config{
		NodeName: a.cfg.NodeName,
		Pods:     serverPods{a},
		// The process runtime has no CRI streaming: exec, attach and
		// port-forward answer 501 until the agent runs pods through CRI.
		Runtime: nil,
		TLS:     cert,
		Metrics: a.metrics.reg,
		Healthz: a.healthz,
		Logger:  a.cfg.Logger,
	})
}

// healthz is nil once the agent runs and while its Lease renewals succeed.
func (a *Agent) healthz() error {
	select {
	case <-a.ready:
	default:
		return errors.New("starting")
	}
	if last := a.lease.renewed(); time.Since(last) > 3*api.LoadInterval {
		return fmt.Errorf("the node's lease was last renewed %s ago", time.Since(last).Round(time.Second))
	}
	return nil
}

// serverPods is the node server's view of the agent's pods.
type serverPods struct{ a *Agent }

var _ server.Pods = serverPods{}

// worker finds a running pod's worker and checks container ("" = the
// only one) is one of its containers.
func (p serverPods) worker(namespace, pod, container string) (*podWorker, string, error) {
	pw := p.a.findPod(namespace, pod)
	if pw == nil {
		return nil, "", fmt.Errorf("%w: pod %s/%s is not on node %s", server.ErrNotFound, namespace, pod, p.a.cfg.NodeName)
	}
	if container == "" && len(pw.containers) == 1 {
		container = pw.containers[0]
	}
	if !slices.Contains(pw.containers, container) {
		return nil, "", fmt.Errorf("%w: container %q is not valid for pod %s", server.ErrNotFound, container, pod)
	}
	return pw, container, nil
}

// Container resolves the container, but the process runtime has no CRI
// container to stream to.
func (p serverPods) Container(namespace, pod, container string) (string, error) {
	if _, _, err := p.worker(namespace, pod, container); err != nil {
		return "", err
	}
	return "", errors.New("the process runtime does not stream to containers")
}

// Sandbox resolves the pod, but the process runtime has no CRI sandbox.
func (p serverPods) Sandbox(namespace, pod string) (string, error) {
	if p.a.findPod(namespace, pod) == nil {
		return "", fmt.Errorf("%w: pod %s/%s is not on node %s", server.ErrNotFound, namespace, pod, p.a.cfg.NodeName)
	}
	return "", errors.New("the process runtime does not port-forward")
}

// Logs writes a container's log from the runtime's log files.
func (p serverPods) Logs(ctx context.Context, namespace, pod, container string, opts server.LogOptions, w io.Writer) error {
	pw, container, err := p.worker(namespace, pod, container)
	if err != nil {
		return err
	}
	ref := noderuntime.PodRef{Namespace: namespace, Name: pod, UID: string(pw.uid)}
	err = p.a.rt.Logs(ctx, ref, container, noderuntime.LogOptions{
		Follow: opts.Follow, Previous: opts.Previous, Timestamps: opts.Timestamps,
		TailLines: opts.TailLines, SinceTime: opts.SinceTime, LimitBytes: opts.LimitBytes,
	}, w)
	if errors.Is(err, noderuntime.ErrNotFound) {
		return fmt.Errorf("%w: %v", server.ErrNotFound, err)
	}
	return err
}
