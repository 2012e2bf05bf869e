package apiserver

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

// DefaultAgentPort is where a node agent serves logs when its Node does not
// say (status.daemonEndpoints.kubeletEndpoint.port), as the kubelet's 10250.
const DefaultAgentPort = 10250

// agentClient reaches node agents. There is no overall timeout: `kubectl
// logs -f` streams for as long as the user watches.
var agentClient = &http.Client{Transport: &http.Transport{
	DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	ResponseHeaderTimeout: 30 * time.Second,
	DisableCompression:    true,
}}

// logParams are the query parameters of pods/log passed on to the agent.
var logParams = []string{"follow", "previous", "tailLines", "timestamps", "limitBytes", "sinceSeconds", "sinceTime"}

// servePodLog proxies GET pods/{name}/log to the agent of the pod's node,
// authenticating with that node's own token, as the Kubernetes API server
// proxies to the kubelet.
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
	target, token, err := s.agentFor(r, pod)
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
	target.Path = "/containerLogs/" + url.PathEscape(pod.Namespace) + "/" + url.PathEscape(pod.Name) + "/" + url.PathEscape(container)
	target.RawQuery = out.Encode()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target.String(), nil)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := agentClient.Do(req)
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

// agentFor returns the base URL of the agent running pod and the token to
// show it.
func (s *Server) agentFor(r *http.Request, pod *corev1.Pod) (*url.URL, string, error) {
	if pod.Spec.NodeName == "" {
		return nil, "", apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	obj, err := s.store.Get(r.Context(), registry.Nodes.Resource, "", pod.Spec.NodeName)
	if err != nil {
		return nil, "", err
	}
	node := obj.(*corev1.Node)
	var ip string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
			break
		}
	}
	if ip == "" {
		return nil, "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s has no InternalIP address to reach its agent at", node.Name))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = DefaultAgentPort
	}
	token, ok := s.tokens.TokenFor(auth.NodeUser(node.Name))
	if !ok {
		return nil, "", apierrors.NewServiceUnavailable(fmt.Sprintf("this API server has no token of node %s to reach its agent with", node.Name))
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(ip, strconv.Itoa(port))}, token, nil
}

// agentError turns an agent's refusal into an API error.
func agentError(code int, msg string) error {
	switch code {
	case http.StatusNotFound:
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
			Reason: metav1.StatusReasonNotFound, Message: msg}}
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("node agent answered %d: %s", code, msg))
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
