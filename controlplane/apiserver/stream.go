package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/proxy"
	translator "k8s.io/apiserver/pkg/util/proxy"

	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

// The connect subresources of pods: upgraded streams to the pod's node.
const (
	subExec        = "exec"
	subAttach      = "attach"
	subPortForward = "portforward"
)

func isConnect(ri requestInfo) bool {
	return ri.Info == registry.Pods && (ri.Subresource == subExec || ri.Subresource == subAttach || ri.Subresource == subPortForward)
}

// connectRestriction asks for create on pods/exec, pods/attach and
// pods/portforward whatever the method, as kube-apiserver does since 1.35
// (AuthorizePodWebsocketUpgradeCreatePermission): a WebSocket client opens
// its stream with GET, which alone would need only get, which readers
// have.
func (s *Server) connectRestriction(u *auth.User, ri requestInfo) error {
	if !isConnect(ri) || ri.Verb == "create" {
		return nil
	}
	return s.authorize(auth.Attributes{User: u, Verb: "create", Namespace: ri.Namespace, Resource: ri.Resource,
		Subresource: ri.Subresource, Name: ri.Name, APIGroup: ri.Group})
}

// serveConnect serves GET and POST pods/{name}/exec, attach and
// portforward as kube-apiserver does: it checks the options, finds the
// pod's node and proxies the upgraded connection to its agent
// (/exec/{namespace}/{pod}/{container}?command=…&stdin=1…,
// /attach/…, /portForward/{namespace}/{pod}). SPDY goes through as is.
// WebSocket v5.channel.k8s.io (kubectl ≥ 1.30's exec, attach and cp) is
// translated to SPDY here, and WebSocket-tunnelled port-forward
// (SPDY/3.1+portforward.k8s.io, kubectl ≥ 1.31) is untunnelled, with
// k8s.io/apiserver's own handlers, since the runtime behind the agent
// speaks SPDY.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), r.Method))
		return
	}
	if ri.Name == "" {
		writeError(w, apierrors.NewNotFound(ri.groupResource(), ri.Subresource))
		return
	}
	obj, err := s.store.Get(r.Context(), registry.Pods.Resource, ri.Namespace, ri.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	pod := obj.(*corev1.Pod)
	q := r.URL.Query()
	var path string
	params := url.Values{}
	var streams translator.Options
	if ri.Subresource == subPortForward {
		path = "/portForward/" + url.PathEscape(pod.Namespace) + "/" + url.PathEscape(pod.Name)
		for _, p := range q["ports"] {
			for v := range strings.SplitSeq(p, ",") {
				if n, err := strconv.ParseUint(v, 10, 16); err != nil || n == 0 {
					writeError(w, apierrors.NewBadRequest(fmt.Sprintf("ports: invalid port %q: must be a number from 1 to 65535", v)))
					return
				}
				params.Add("port", v)
			}
		}
	} else {
		container, err := streamContainer(pod, q.Get("container"))
		if err != nil {
			writeError(w, err)
			return
		}
		if streams, err = streamOptions(q, ri.Subresource == subExec, params); err != nil {
			writeError(w, err)
			return
		}
		path = containerPath(ri.Subresource, pod, container)
	}
	a, err := s.agentFor(r, pod)
	if err != nil {
		writeError(w, err)
		return
	}
	// The user's token was for us, not for the node.
	r.Header.Del("Authorization")
	location := a.location(path, params)
	upgrade := proxy.NewUpgradeAwareHandler(location, a.transport, false, true, proxyResponder{s: s, node: a.node})
	var h http.Handler = upgrade
	switch ri.Subresource {
	case subExec, subAttach:
		h = translator.NewTranslatingHandler(upgrade,
			translator.NewStreamTranslatorHandler(location, a.transport, 0, streams),
			wsstream.IsWebSocketRequestWithStreamCloseProtocol)
	case subPortForward:
		h = translator.NewTranslatingHandler(upgrade, translator.NewTunnelingHandler(upgrade),
			wsstream.IsWebSocketRequestWithTunnelingProtocol)
	}
	s.metrics.streams.WithLabelValues(ri.Subresource).Inc()
	defer s.metrics.streams.WithLabelValues(ri.Subresource).Dec()
	h.ServeHTTP(w, r)
}

// streamOptions reads PodExecOptions or PodAttachOptions from q (stdin,
// stdout, stderr, tty, command) into the kubelet's parameters ("1") and
// the translator's streams.
func streamOptions(q url.Values, exec bool, params url.Values) (translator.Options, error) {
	var o translator.Options
	for _, f := range []struct {
		name string
		to   *bool
	}{{"stdin", &o.Stdin}, {"stdout", &o.Stdout}, {"stderr", &o.Stderr}, {"tty", &o.Tty}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, apierrors.NewBadRequest(fmt.Sprintf("%s: invalid value %q: must be true or false", f.name, v))
		}
		if *f.to = b; b {
			params.Set(f.name, "1")
		}
	}
	if !o.Stdin && !o.Stdout && !o.Stderr {
		return o, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	if exec {
		if len(q["command"]) == 0 {
			return o, apierrors.NewBadRequest("you must specify at least one command for the container")
		}
		for _, c := range q["command"] {
			params.Add("command", c)
		}
	}
	return o, nil
}

// streamContainer picks the container to exec in or attach to, as
// kube-apiserver does: the one named (an init or ephemeral container
// too), or the only one.
func streamContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		return logContainer(pod, "")
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return logContainer(pod, name)
}

// proxyResponder answers errors of the upgrade proxy before the
// connection is handed over.
type proxyResponder struct {
	s    *Server
	node string
}

func (p proxyResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		writeError(w, err)
		return
	}
	p.s.log.Warn("stream to node agent", "node", p.node, "path", r.URL.Path, "err", err)
	writeError(w, apierrors.NewServiceUnavailable(fmt.Sprintf("error dialing backend: node %s: %v", p.node, err)))
}
