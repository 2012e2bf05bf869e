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
// as is: see loadPair; it must also cover want.
func loadServing(dir string, ca *x509.Certificate, want sans, now time.Time) (tls.Certificate, bool, error) {
	return loadPair(filepath.Join(dir, ServingCertFile), filepath.Join(dir, ServingKeyFile), ca, now, want.coveredBy)
}

// issueServing creates a new key and serving certificate for want, signed by
// ca, and writes both (see issuePair).
func issueServing(dir string, ca *x509.Certificate, caKey crypto.Signer, want sans, now time.Time) (tls.Certificate, error) {
	return issuePair(filepath.Join(dir, ServingCertFile), filepath.Join(dir, ServingKeyFile), &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    want.dns,
		IPAddresses: want.ips,
	}, ca, caKey, now)
}

// loadPair returns the key pair stored at certPath and keyPath and whether
// it can be used as is: it must exist, match its key, chain to ca, fit
// (the caller's check of names) and not expire within renewBefore. A file
// that cannot be read is an error; one that cannot be used is only a
// reason to re-issue.
func loadPair(certPath, keyPath string, ca *x509.Certificate, now time.Time, fits func(*x509.Certificate) bool) (tls.Certificate, bool, error) {
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
		fits(leaf) &&
		now.Add(renewBefore).Before(leaf.NotAfter)
	return pair, usable, nil
}

// issuePair creates a new key and a certificate for it from tmpl, signed by
// ca, and writes both. The key goes first: if we stop between the two
// writes the pair no longer matches and the next start issues it again.
func issuePair(certPath, keyPath string, tmpl *x509.Certificate, ca *x509.Certificate, caKey crypto.Signer, now time.Time) (tls.Certificate, error) {
	name := filepath.Base(certPath)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key for %s: %w", name, err)
	}
	der, err := signLeaf(tmpl, key.Public(), ca, caKey, servingValidity, now)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create %s: %w", name, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := encodeCert(der)
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load %s: %w", name, err)
	}
	return pair, nil
}

// signLeaf signs a certificate for pub from tmpl (subject, usages, names),
// valid from a little before now for validity but never past ca's expiry.
func signLeaf(tmpl *x509.Certificate, pub crypto.PublicKey, ca *x509.Certificate, caKey crypto.Signer, validity time.Duration, now time.Time) ([]byte, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	t := *tmpl
	t.SerialNumber = serial
	t.NotBefore = now.Add(-backdate)
	t.NotAfter = now.Add(validity)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.BasicConstraintsValid = true
	t.IsCA = false
	// A certificate outliving its issuer is rejected by clients anyway.
	if t.NotAfter.After(ca.NotAfter) {
		t.NotAfter = ca.NotAfter
	}
	return x509.CreateCertificate(rand.Reader, &t, ca, pub, caKey)
}
