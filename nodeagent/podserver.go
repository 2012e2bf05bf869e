package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/nodeagent/podlog"
	"github.com/shoalmesh/shoal/nodeagent/server"
)

// newServer prepares the node server (nodeagent/server) on the agent's
// pods: its serving certificate (kept in DataDir/pki, signed by the API
// server on the node's token), exec, attach and port-forward through the
// runtime's CRI streaming, logs from the CRI log files, /healthz and
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
		Runtime:  streamer{a},
		// The runtime's stream server listens on 127.0.0.1 in the
		// node's namespace.
		Dial:    a.probeDial(),
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

// serverPods is the node server's view of the agent's pods: Container,
// Sandbox and Logs with the server's error and options.
type serverPods struct{ a *Agent }

var _ server.Pods = serverPods{}

func (p serverPods) Container(namespace, pod, container string) (string, error) {
	id, err := p.a.Container(namespace, pod, container)
	return id, serverErr(err)
}

func (p serverPods) Sandbox(namespace, pod string) (string, error) {
	id, err := p.a.Sandbox(namespace, pod)
	return id, serverErr(err)
}

func (p serverPods) Logs(ctx context.Context, namespace, pod, container string, opts server.LogOptions, w io.Writer) error {
	return serverErr(p.a.Logs(ctx, namespace, pod, container, podlog.LogOptions{
		Follow: opts.Follow, Previous: opts.Previous, Timestamps: opts.Timestamps,
		TailLines: opts.TailLines, SinceTime: opts.SinceTime, LimitBytes: opts.LimitBytes,
	}, w))
}

// serverErr makes the agent's not-found errors the server's.
func serverErr(err error) error {
	if errors.Is(err, ErrNotFound) && !errors.Is(err, server.ErrNotFound) {
		return fmt.Errorf("%w: %w", server.ErrNotFound, err)
	}
	return err
}

// streamer is the agent's CRI runtime for the server's exec, attach and
// port-forward; it is set once the runtime has started, before the server
// serves.
type streamer struct{ a *Agent }

var _ server.Streamer = streamer{}

func (s streamer) runtime() (server.Streamer, error) {
	if s.a.rt == nil || s.a.rt.Runtime == nil {
		return nil, errors.New("the container runtime is not running")
	}
	return s.a.rt.Runtime, nil
}

func (s streamer) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	return rt.Exec(ctx, req)
}

func (s streamer) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	return rt.Attach(ctx, req)
}

func (s streamer) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	return rt.PortForward(ctx, req)
}
