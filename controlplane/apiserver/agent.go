package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

// DefaultAgentPort is where a node agent serves when its Node does not say
// (status.daemonEndpoints.kubeletEndpoint.port), as the kubelet's 10250.
const DefaultAgentPort = 10250

// agent is how to reach the agent of one node: its base URL and a
// transport that shows the API server's client certificate and accepts
// only that node's serving certificate.
type agent struct {
	node      string
	base      *url.URL
	transport *http.Transport
}

// agentFor returns the agent running pod, over mutual TLS: the agent's
// serving certificate must be signed by the cluster CA for the node's
// InternalIP with the node's subject (system:node:<name>), so that a node
// cannot stand in for another even with an address of it; the API server
// shows its client certificate (api.AgentClientCommonName), the only one
// the agent serves. The user's credentials never go to the node.
func (s *Server) agentFor(r *http.Request, pod *corev1.Pod) (*agent, error) {
	if pod.Spec.NodeName == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	if s.pki == nil || s.agentCert == nil {
		return nil, apierrors.NewServiceUnavailable("this API server has no client certificate to reach node agents with")
	}
	obj, err := s.store.Get(r.Context(), registry.Nodes.Resource, "", pod.Spec.NodeName)
	if err != nil {
		return nil, err
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
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %s has no InternalIP address to reach its agent at", node.Name))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = DefaultAgentPort
	}
	return &agent{
		node:      node.Name,
		base:      &url.URL{Scheme: "https", Host: net.JoinHostPort(ip, strconv.Itoa(port))},
		transport: s.agentTransport(node.Name),
	}, nil
}

// agentTransport dials node's agent. Each request gets its own (streams
// and followed logs are long; there is little to pool), without
// keep-alives so nothing idles afterwards.
func (s *Server) agentTransport(node string) *http.Transport {
	want := api.NodeServingCommonName(node)
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
		DisableKeepAlives:     true,
		TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      s.pki.ClientCAPool(),
			Certificates: []tls.Certificate{*s.agentCert},
			NextProtos:   []string{"http/1.1"},
			// The chain and the address are verified by Go; this adds
			// whose certificate it is.
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return fmt.Errorf("the agent of node %s showed no certificate", node)
				}
				return agentIdentity(cs.PeerCertificates[0], node, want)
			},
		},
	}
}

// agentIdentity checks that leaf is node's serving certificate.
func agentIdentity(leaf *x509.Certificate, node, want string) error {
	if leaf.Subject.CommonName != want || !slices.Contains(leaf.Subject.Organization, api.NodeServingOrganization) {
		return fmt.Errorf("the agent at node %s's address showed the certificate of %q, not of %s", node, leaf.Subject.CommonName, want)
	}
	return nil
}

// location is the agent's URL for path and query.
func (a *agent) location(path string, query url.Values) *url.URL {
	u := *a.base
	u.Path, u.RawQuery = path, query.Encode()
	return &u
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
