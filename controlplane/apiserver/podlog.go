package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/controlplane/registry"
)

// logParams are the query parameters of pods/log passed on to the agent.
var logParams = []string{"follow", "previous", "tailLines", "timestamps", "limitBytes", "sinceSeconds", "sinceTime"}

// servePodLog proxies GET pods/{name}/log to the agent of the pod's node
// over mutual TLS (agentFor), as the Kubernetes API server proxies to the
// kubelet.
func (s *Server) servePodLog(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	obj, err := s.store.Get(r.Context(), registry.Pods.Resource, ri.Namespace, ri.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	pod := obj.(*corev1.Pod)
	q := r.URL.Query()
	container, err := logContainer(pod, q.Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	a, err := s.agentFor(r, pod)
	if err != nil {
		writeError(w, err)
		return
	}
	out := url.Values{}
	for _, p := range logParams {
		if v := q.Get(p); v != "" {
			out.Set(p, v)
		}
	}
	target := a.location(containerPath("containerLogs", pod, container), out)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target.String(), nil)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	// No overall timeout: `kubectl logs -f` streams for as long as the
	// user watches.
	resp, err := a.transport.RoundTrip(req)
	if err != nil {
		writeError(w, apierrors.NewServiceUnavailable(fmt.Sprintf("get logs of pod %s from the agent of node %s: %v", pod.Name, pod.Spec.NodeName, err)))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		writeError(w, agentError(resp.StatusCode, strings.TrimSpace(string(msg))))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	copyFlushing(w, resp.Body)
}

// containerPath is the agent's path for a container of pod under kind
// (containerLogs, exec, attach).
func containerPath(kind string, pod *corev1.Pod, container string) string {
	return "/" + kind + "/" + url.PathEscape(pod.Namespace) + "/" + url.PathEscape(pod.Name) + "/" + url.PathEscape(container)
}

// logContainer picks the container whose log is asked for, as Kubernetes
// does: the one named, or the only one.
func logContainer(pod *corev1.Pod, name string) (string, error) {
	var names []string
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return name, nil
		}
		names = append(names, c.Name)
	}
	switch {
	case name != "":
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
	case len(names) == 1:
		return names[0], nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " ")))
	}
}

// copyFlushing copies src to w, flushing after each read so `logs -f`
// shows lines as they come.
func copyFlushing(w http.ResponseWriter, src io.Reader) {
	f, _ := w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
		}
		if err != nil { // io.EOF, or the agent or the client went away
			return
		}
	}
}
