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
	"slices"
	"time"
)

// leaf describes a certificate a CA issues: where its pair is kept, whom it
// names and what it may be used for.
type leaf struct {
	certFile, keyFile string
	commonName        string
	usages            []x509.ExtKeyUsage
	sans              sans
}

// load returns the stored key pair and whether it can be used as is: it
// must exist, match its key, chain to ca, carry l's usages, cover l's names
// and not expire within renewBefore. A file that cannot be read is an error;
// one that cannot be used is only a reason to re-issue.
func (l leaf) load(dir string, ca *x509.Certificate, now time.Time) (tls.Certificate, bool, error) {
	certPath, keyPath := filepath.Join(dir, l.certFile), filepath.Join(dir, l.keyFile)
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
	c := pair.Leaf
	usable := c.CheckSignatureFrom(ca) == nil &&
		l.sans.coveredBy(c) &&
		slices.Equal(c.ExtKeyUsage, l.usages) &&
		now.Add(renewBefore).Before(c.NotAfter)
	return pair, usable, nil
}

// issue creates a new key and certificate signed by ca and writes both. The
// key goes first: if we stop between the two writes the pair no longer
// matches and the next start issues it again.
func (l leaf) issue(dir string, ca *x509.Certificate, caKey crypto.Signer, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate %s key: %w", l.commonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: l.commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(servingValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           l.usages,
		BasicConstraintsValid: true,
		DNSNames:              l.sans.dns,
		IPAddresses:           l.sans.ips,
	}
	// A certificate outliving its issuer is rejected by clients anyway.
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create %s certificate: %w", l.commonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := encodeCert(der)
	if err := atomicfile.Write(filepath.Join(dir, l.keyFile), keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.Write(filepath.Join(dir, l.certFile), certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load %s certificate: %w", l.commonName, err)
	}
	return pair, nil
}

// loadOrIssue returns l's key pair from dir, issuing it anew when the one
// there cannot be used.
func (l leaf) loadOrIssue(dir string, ca *x509.Certificate, caKey crypto.Signer, now time.Time) (tls.Certificate, error) {
	pair, ok, err := l.load(dir, ca, now)
	if err != nil || ok {
		return pair, err
	}
	return l.issue(dir, ca, caKey, now)
}
