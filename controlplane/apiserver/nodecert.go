package apiserver

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"crypto/x509"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

// nodeCertResource names the node certificate endpoint in errors.
var nodeCertResource = schema.GroupResource{Group: "shoal.io", Resource: "nodeservingcertificates"}

// serveNodeCertificate signs a node agent's serving certificate
// (api.NodeServingCertificatePath): the caller must be a node, the request
// must name that node (system:node:<name>/system:nodes), and its names may
// only be the node's name and the addresses its Node reports. The answer
// carries the cluster CA, which signs the API server's client certificate
// the agent then accepts.
func (s *Server) serveNodeCertificate(w http.ResponseWriter, r *http.Request, user *auth.User) {
	if r.Method != http.MethodPost {
		writeError(w, apierrors.NewMethodNotSupported(nodeCertResource, r.Method))
		return
	}
	node, ok := auth.NodeName(user)
	if !ok {
		writeError(w, apierrors.NewForbidden(nodeCertResource, "", fmt.Errorf("user %q is not a node: only a node's agent may ask for a node serving certificate", user.Name)))
		return
	}
	if s.pki == nil {
		writeError(w, apierrors.NewServiceUnavailable("this API server does not sign node serving certificates (it has no cluster CA key)"))
		return
	}
	body, err := readBody(r, 64<<10)
	if err != nil {
		writeError(w, err)
		return
	}
	var req api.NodeCertificateRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the body is not a NodeCertificateRequest: %v", err)))
		return
	}
	csr, err := parseCSR(req.CSR)
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	obj, err := s.store.Get(r.Context(), registry.Nodes.Resource, "", node)
	if apierrors.IsNotFound(err) {
		writeError(w, apierrors.NewForbidden(nodeCertResource, node, fmt.Errorf("node %s is not registered: register the Node before asking for its serving certificate", node)))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if err := nodeMayHave(obj.(*corev1.Node), csr); err != nil {
		writeError(w, apierrors.NewForbidden(nodeCertResource, node, err))
		return
	}
	cert, err := s.pki.SignNodeServing(csr.PublicKey, node, csr.IPAddresses, csr.DNSNames)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	s.log.Info("signed a node serving certificate", "node", node, "ips", csr.IPAddresses, "dns", csr.DNSNames)
	writeJSON(w, http.StatusOK, api.NodeCertificate{Certificate: string(cert), CA: string(s.pki.CAPEM)})
}

// parseCSR decodes a PEM certificate request and checks its signature.
func parseCSR(p string) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode([]byte(p))
	if block == nil || block.Type != "CERTIFICATE REQUEST" || strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("csr: want one PEM block of type CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr: %v", err)
	}
	return csr, nil
}

// nodeMayHave checks a CSR against its node: the subject must be the
// node's, the names only its name and the addresses its Node reports.
// Nothing else a certificate can carry is signed.
func nodeMayHave(node *corev1.Node, csr *x509.CertificateRequest) error {
	if csr.Subject.CommonName != api.NodeServingCommonName(node.Name) || !slices.Equal(csr.Subject.Organization, []string{api.NodeServingOrganization}) {
		return fmt.Errorf("the request's subject must be CN=%s, O=%s", api.NodeServingCommonName(node.Name), api.NodeServingOrganization)
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return fmt.Errorf("a node serving certificate names only DNS names and IP addresses")
	}
	if len(csr.IPAddresses)+len(csr.DNSNames) == 0 {
		return fmt.Errorf("the request names no address")
	}
	var ips []net.IP
	dns := []string{node.Name}
	for _, a := range node.Status.Addresses {
		switch a.Type {
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip := net.ParseIP(a.Address); ip != nil {
				ips = append(ips, ip)
			}
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			dns = append(dns, a.Address)
		}
	}
	for _, ip := range csr.IPAddresses {
		if !slices.ContainsFunc(ips, ip.Equal) {
			return fmt.Errorf("%s is not an address of node %s (status.addresses)", ip, node.Name)
		}
	}
	for _, d := range csr.DNSNames {
		if !slices.ContainsFunc(dns, func(n string) bool { return strings.EqualFold(n, d) }) {
			return fmt.Errorf("%q is not a name of node %s", d, node.Name)
		}
	}
	return nil
}
