package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

// File names inside the directory given to LoadOrCreate.
const (
	CACertFile      = "ca.crt"
	CAKeyFile       = "ca.key"
	ServingCertFile = "apiserver.crt"
	ServingKeyFile  = "apiserver.key"
)

// clusterCAName is the cluster CA's common name.
const clusterCAName = "shoal-ca"

const (
	caValidity      = 10 * 365 * 24 * time.Hour
	servingValidity = 365 * 24 * time.Hour
	// renewBefore re-issues the serving certificate on a start this close to
	// its expiry, so a cluster restarted now and then never serves an expired one.
	renewBefore = 30 * 24 * time.Hour
	// backdate tolerates clients whose clocks run a little behind ours.
	backdate = time.Hour
)

// Bundle is the cluster CA and the API server's serving key pair.
type Bundle struct {
	// CAPEM is the CA certificate as written to ca.crt; kubeconfigs embed it.
	CAPEM []byte
	CA    *x509.Certificate
	// ServingCert is the API server's key pair, with Leaf set.
	ServingCert tls.Certificate

	caKey crypto.Signer
}

// LoadOrCreate returns the CA and serving key pair kept in dir, creating
// whatever is missing. hosts are extra subject alternative names for the
// serving certificate, IP addresses or DNS names (a port, as in an --api-addr
// value, is ignored); loopback, localhost, the kubernetes Service names and
// 10.96.0.1 are always included. If the existing serving certificate lacks one
// of them it is re-issued from the same CA; the CA itself is never replaced.
func LoadOrCreate(dir string, hosts []string) (*Bundle, error) {
	return loadOrCreate(dir, hosts, time.Now())
}

func loadOrCreate(dir string, hosts []string, now time.Time) (*Bundle, error) {
	want := parseHosts(defaultHosts, hosts)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := loadOrCreateCA(dir, clusterCAName, now)
	if err != nil {
		return nil, err
	}
	serving := leaf{certFile: ServingCertFile, keyFile: ServingKeyFile, commonName: "kube-apiserver",
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, sans: want}
	if b.ServingCert, err = serving.loadOrIssue(dir, b.CA, b.caKey, now); err != nil {
		return nil, err
	}
	return b, nil
}

// ServerTLSConfig returns a new TLS configuration that serves the serving
// certificate over TLS 1.2 or later and offers HTTP/2, which kubectl prefers.
func (b *Bundle) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{b.ServingCert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// ClientCAPool returns a pool holding only the cluster CA, for clients of the
// API server to verify it with.
func (b *Bundle) ClientCAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	return pool
}
