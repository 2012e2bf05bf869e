package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"time"

	"github.com/shoalmesh/shoal/api"
)

// File names of the API server's client certificate for node agents,
// beside the serving certificate in the directory given to LoadOrCreate.
const (
	AgentClientCertFile = "apiserver-kubelet-client.crt"
	AgentClientKeyFile  = "apiserver-kubelet-client.key"
)

// AgentClientCert returns the client certificate the API server shows node
// agents when it proxies exec, attach, port-forward and logs to them
// (subject api.AgentClientCommonName/api.AgentClientOrganization), kept in
// dir (the directory given to LoadOrCreate). Like the serving certificate
// it is re-issued from the same CA when missing, not signed by this CA, of
// another subject, or about to expire.
func (b *Bundle) AgentClientCert(dir string) (tls.Certificate, error) {
	return b.agentClientCert(dir, time.Now())
}

func (b *Bundle) agentClientCert(dir string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, AgentClientCertFile), filepath.Join(dir, AgentClientKeyFile)
	isAgentClient := func(c *x509.Certificate) bool {
		return c.Subject.CommonName == api.AgentClientCommonName &&
			slices.Equal(c.Subject.Organization, []string{api.AgentClientOrganization}) &&
			slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	pair, ok, err := loadPair(certPath, keyPath, b.CA, now, isAgentClient)
	if err != nil || ok {
		return pair, err
	}
	return issuePair(certPath, keyPath, &x509.Certificate{
		Subject:     pkix.Name{CommonName: api.AgentClientCommonName, Organization: []string{api.AgentClientOrganization}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, b.CA, b.caKey, now)
}

// SignNodeServing signs a serving certificate for node's agent, for the
// key pub and exactly the names given, with the subject
// system:node:<node>/system:nodes and server authentication only (it cannot
// be used as a client certificate). The caller decides which names a node
// may have; this only signs. The result is PEM.
func (b *Bundle) SignNodeServing(pub crypto.PublicKey, node string, ips []net.IP, dns []string) ([]byte, error) {
	return b.signNodeServing(pub, node, ips, dns, time.Now())
}

func (b *Bundle) signNodeServing(pub crypto.PublicKey, node string, ips []net.IP, dns []string, now time.Time) ([]byte, error) {
	if node == "" || len(ips)+len(dns) == 0 {
		return nil, fmt.Errorf("sign serving certificate of node %q: a node name and at least one address or name are required", node)
	}
	der, err := signLeaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: api.NodeServingCommonName(node), Organization: []string{api.NodeServingOrganization}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
		DNSNames:    dns,
	}, pub, b.CA, b.caKey, servingValidity, now)
	if err != nil {
		return nil, fmt.Errorf("sign serving certificate of node %s: %w", node, err)
	}
	return encodeCert(der), nil
}
