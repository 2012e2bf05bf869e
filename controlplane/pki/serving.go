package pki

import (
	"github.com/shoalmesh/shoal/internal/atomicfile"

	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// loadServing returns the stored serving key pair and whether it can be used
// as is: it must exist, match its key, chain to ca, cover want and not expire
// within renewBefore. A file that cannot be read is an error; one that
// cannot be used is only a reason to re-issue.
func loadServing(dir string, ca *x509.Certificate, want sans, now time.Time) (tls.Certificate, bool, error) {
	certPath, keyPath := filepath.Join(dir, ServingCertFile), filepath.Join(dir, ServingKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, false, nil
	} else if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("read %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, false, nil
	} else if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("read %s: %w", keyPath, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, false, nil
	}
	leaf := pair.Leaf
	usable := leaf.CheckSignatureFrom(ca) == nil &&
		want.coveredBy(leaf) &&
		now.Add(renewBefore).Before(leaf.NotAfter)
	return pair, usable, nil
}

// issueServing creates a new key and serving certificate for want, signed by
// ca, and writes both. The key goes first: if we stop between the two writes
// the pair no longer matches and the next start issues it again.
func issueServing(dir string, ca *x509.Certificate, caKey crypto.Signer, want sans, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate serving key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(servingValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              want.dns,
		IPAddresses:           want.ips,
	}
	// A certificate outliving its issuer is rejected by clients anyway.
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create serving certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := encodeCert(der)
	if err := atomicfile.Write(filepath.Join(dir, ServingKeyFile), keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.Write(filepath.Join(dir, ServingCertFile), certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load serving certificate: %w", err)
	}
	return pair, nil
}
