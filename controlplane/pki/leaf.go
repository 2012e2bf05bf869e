package pki

import (
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

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// leaf describes a certificate a CA issues: where its pair is kept, whom it
// names and what it may be used for.
type leaf struct {
	certFile, keyFile string
	commonName        string
	organization      []string
	usages            []x509.ExtKeyUsage
	sans              sans
}

// load returns the stored key pair and whether it can be used as is: it
// must exist, match its key, chain to ca, carry l's subject and usages,
// cover l's names and not expire within renewBefore. A file that cannot be read is an error;
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
		c.Subject.CommonName == l.commonName &&
		slices.Equal(c.Subject.Organization, l.organization) &&
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
	der, err := signLeaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: l.commonName, Organization: l.organization},
		ExtKeyUsage: l.usages,
		DNSNames:    l.sans.dns,
		IPAddresses: l.sans.ips,
	}, key.Public(), ca, caKey, servingValidity, now)
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

// signLeaf signs tmpl's subject, names and usages for pub as a leaf (never a
// CA) valid from a little before now for validity, or until ca expires.
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
