package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criTimeout bounds asking the runtime for a streaming URL.
const criTimeout = 30 * time.Second

// streamOptions are exec's and attach's query parameters, as the kubelet
// reads them ("1" or "true").
type streamOptions struct {
	stdin, stdout, stderr, tty bool
	command                    []string
}

func parseStreamOptions(q url.Values, exec bool) (streamOptions, error) {
	flag := func(name string) bool {
		v := q.Get(name)
		return v == "1" || strings.EqualFold(v, "true")
	}
	o := streamOptions{stdin: flag("stdin"), stdout: flag("stdout"), stderr: flag("stderr"), tty: flag("tty"), command: q["command"]}
	if o.tty {
		// A terminal has one output stream, as the kubelet says.
		o.stderr = false
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, errors.New("you must specify at least 1 of stdin, stdout, stderr")
	}
	if exec && len(o.command) == 0 {
		return o, errors.New("you must specify at least one command for the container")
	}
	return o, nil
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	s.serveContainerStream(w, r, kindExec, func(ctx context.Context, id string, o streamOptions) (string, error) {
		resp, err := s.cfg.Runtime.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: o.command,
			Tty: o.tty, Stdin: o.stdin, Stdout: o.stdout, Stderr: o.stderr})
		return resp.GetUrl(), err
	})
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	s.serveContainerStream(w, r, kindAttach, func(ctx context.Context, id string, o streamOptions) (string, error) {
		resp, err := s.cfg.Runtime.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id,
			Tty: o.tty, Stdin: o.stdin, Stdout: o.stdout, Stderr: o.stderr})
		return resp.GetUrl(), err
	})
}

// serveContainerStream resolves the container, asks the runtime for a
// streaming URL with ask and proxies the request there.
func (s *Server) serveContainerStream(w http.ResponseWriter, r *http.Request, kind string,
	ask func(context.Context, string, streamOptions) (string, error)) {
	if !s.canStream(w, kind) {
		return
	}
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := parseStreamOptions(r.URL.Query(), kind == kindExec)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, err := s.cfg.Pods.Container(ns, pod, container)
	if err != nil {
		s.podError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), criTimeout)
	defer cancel()
	u, err := ask(ctx, id, opts)
	if err != nil {
		s.runtimeError(w, kind, err)
		return
	}
	s.proxy(w, r, kind, u)
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	if !s.canStream(w, kindPortForward) {
		return
	}
	ports, err := parsePorts(r.URL.Query()["port"])
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, err := s.cfg.Pods.Sandbox(r.PathValue("namespace"), r.PathValue("pod"))
	if err != nil {
		s.podError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), criTimeout)
	defer cancel()
	resp, err := s.cfg.Runtime.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: id, Port: ports})
	if err != nil {
		s.runtimeError(w, kindPortForward, err)
		return
	}
	s.proxy(w, r, kindPortForward, resp.GetUrl())
}

// parsePorts reads port-forward's optional port parameters (WebSocket
// clients name them; SPDY clients name each port in its stream's headers).
func parsePorts(values []string) ([]int32, error) {
	var ports []int32
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("port %q: must be a number from 1 to 65535", p)
			}
			ports = append(ports, int32(n))
		}
	}
	return ports, nil
}

func (s *Server) canStream(w http.ResponseWriter, kind string) bool {
	if s.cfg.Runtime == nil {
		http.Error(w, fmt.Sprintf("%s is not supported by node %s's container runtime", kind, s.cfg.NodeName), http.StatusNotImplemented)
		return false
	}
	return true
}

// proxy hands the (upgrade) request to the runtime's streaming URL, as the
// kubelet does: the client's protocol headers go through, its upgrade is
// answered by the runtime, and the bytes flow both ways until one side
// closes.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, kind, streamURL string) {
	u, err := url.Parse(streamURL)
	if err != nil || u.Host == "" {
		http.Error(w, fmt.Sprintf("the runtime returned a bad streaming URL for %s", kind), http.StatusInternalServerError)
		return
	}
	s.metrics.streams.WithLabelValues(kind).Inc()
	defer s.metrics.streams.WithLabelValues(kind).Dec()
	var transport http.RoundTripper
	if s.cfg.Dial != nil {
		transport = &http.Transport{DialContext: s.cfg.Dial}
	}
	h := proxy.NewUpgradeAwareHandler(u, transport, false, true, responder{s, kind})
	h.ServeHTTP(w, r)
}

// responder answers errors of the upgrade proxy.
type responder struct {
	s    *Server
	kind string
}

func (e responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	e.s.log.Warn("stream to the runtime", "kind", e.kind, "path", r.URL.Path, "err", err)
	http.Error(w, fmt.Sprintf("%s: %v", e.kind, err), http.StatusInternalServerError)
}

// podError answers a failed lookup of a pod or container.
func (s *Server) podError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// runtimeError answers a failed CRI call.
func (s *Server) runtimeError(w http.ResponseWriter, kind string, err error) {
	code := http.StatusInternalServerError
	switch status.Code(err) {
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.InvalidArgument, codes.FailedPrecondition:
		code = http.StatusBadRequest
	case codes.Unimplemented:
		code = http.StatusNotImplemented
	}
	http.Error(w, fmt.Sprintf("%s: %v", kind, err), code)
}
