package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// Certificate is the server's TLS identity: its serving key pair and the
// CA whose client certificates it checks.
type Certificate struct {
	Pair     tls.Certificate
	ClientCA *x509.CertPool
}

// Files kept in the directory given to LoadOrRequestCertificate.
const (
	CertFile = "serving.crt"
	KeyFile  = "serving.key"
	CAFile   = "ca.crt"
)

// renewBefore re-requests a serving certificate this close to its expiry.
const renewBefore = 30 * 24 * time.Hour

// LoadOrRequestCertificate returns the serving certificate kept in dir if
// it is signed by the CA kept beside it, that CA is still the cluster's
// (the one rc trusts, when rc names one), it covers node and ips and does
// not expire within 30 days. Otherwise it makes a new key, asks the API
// server (rc: its URL, CA and the node's token) to sign a certificate for
// node and ips at api.NodeServingCertificatePath, and keeps the result:
// the key (0600), the certificate and the CA.
func LoadOrRequestCertificate(ctx context.Context, rc *rest.Config, node string, ips []netip.Addr, dir string) (*Certificate, error) {
	clusterCA, err := restCA(rc)
	if err != nil {
		return nil, err
	}
	if c, ok := loadCertificate(dir, node, ips, clusterCA, time.Now()); ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate serving key: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: api.NodeServingCommonName(node), Organization: []string{api.NodeServingOrganization}},
		DNSNames: []string{node},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	signed, err := requestCertificate(ctx, rc, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode serving key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	c, err := parseCertificate([]byte(signed.Certificate), keyPEM, []byte(signed.CA))
	if err != nil {
		return nil, fmt.Errorf("the API server's answer: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{KeyFile, keyPEM, 0o600}, {CertFile, []byte(signed.Certificate), 0o644}, {CAFile, []byte(signed.CA), 0o644}} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// restCA is the CA rc trusts, PEM, or nil if it trusts the system's.
func restCA(rc *rest.Config) ([]byte, error) {
	if len(rc.CAData) > 0 {
		return rc.CAData, nil
	}
	if rc.CAFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(rc.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	return b, nil
}

// loadCertificate returns the kept certificate if it can be used as is.
func loadCertificate(dir, node string, ips []netip.Addr, clusterCA []byte, now time.Time) (*Certificate, bool) {
	read := func(name string) []byte {
		b, _ := os.ReadFile(filepath.Join(dir, name)) // nil: missing or unreadable, so request anew
		return b
	}
	certPEM, keyPEM, caPEM := read(CertFile), read(KeyFile), read(CAFile)
	if certPEM == nil || keyPEM == nil || caPEM == nil || (clusterCA != nil && !bytes.Equal(bytes.TrimSpace(clusterCA), bytes.TrimSpace(caPEM))) {
		return nil, false
	}
	c, err := parseCertificate(certPEM, keyPEM, caPEM)
	if err != nil {
		return nil, false
	}
	leaf := c.Pair.Leaf
	if leaf.Subject.CommonName != api.NodeServingCommonName(node) || !now.Add(renewBefore).Before(leaf.NotAfter) {
		return nil, false
	}
	names := []string{node}
	for _, ip := range ips {
		names = append(names, ip.String())
	}
	for _, n := range names {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.ClientCA, DNSName: n, CurrentTime: now}); err != nil {
			return nil, false
		}
	}
	return c, true
}

func parseCertificate(certPEM, keyPEM, caPEM []byte) (*Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("serving key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate")
	}
	return &Certificate{Pair: pair, ClientCA: pool}, nil
}

// requestCertificate posts csrPEM to the API server with rc's credentials.
func requestCertificate(ctx context.Context, rc *rest.Config, csrPEM string) (*api.NodeCertificate, error) {
	base, _, err := rest.DefaultServerUrlFor(rc)
	if err != nil {
		return nil, fmt.Errorf("request serving certificate: %w", err)
	}
	client, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("request serving certificate: %w", err)
	}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(api.NodeCertificateRequest{CSR: csrPEM})
	base.Path = api.NodeServingCertificatePath
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request serving certificate: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("request serving certificate: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("request serving certificate: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var st metav1.Status
		if json.Unmarshal(data, &st) == nil && st.Message != "" {
			return nil, fmt.Errorf("request serving certificate: the API server answered %d: %s", resp.StatusCode, st.Message)
		}
		return nil, fmt.Errorf("request serving certificate: the API server answered %s", resp.Status)
	}
	var out api.NodeCertificate
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("request serving certificate: decode the answer: %w", err)
	}
	return &out, nil
}
