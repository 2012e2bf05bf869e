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

// loadOrCreateCA loads ca.crt and ca.key from dir, or creates them (a CA
// named cn). The key is written
// before the certificate, and a key found without its certificate is
// self-signed again rather than replaced: clients that trusted a certificate
// for that key and subject keep verifying what it signs.
func loadOrCreateCA(dir, cn string, now time.Time) (*Bundle, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	certMissing, keyMissing := errors.Is(certErr, fs.ErrNotExist), errors.Is(keyErr, fs.ErrNotExist)
	switch {
	case certErr != nil && !certMissing:
		return nil, fmt.Errorf("read %s: %w", certPath, certErr)
	case keyErr != nil && !keyMissing:
		return nil, fmt.Errorf("read %s: %w", keyPath, keyErr)
	case keyMissing && !certMissing:
		return nil, fmt.Errorf("load CA: %w: %s exists, %s does not", ErrIncompleteCA, certPath, keyPath)
	case certErr == nil && keyErr == nil:
		return parseCA(certPEM, keyPEM, certPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}

	var key crypto.Signer
	if keyMissing {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate CA key: %w", err)
		}
		if keyPEM, err = encodeKey(k); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
			return nil, err
		}
		key = k
	} else {
		k, err := decodeKey(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", keyPath, err)
		}
		key = k
	}

	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	certPEM = encodeCert(der)
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	return parseCA(certPEM, keyPEM, certPath)
}

// parseCA checks that the certificate is a CA and matches the key.
func parseCA(certPEM, keyPEM []byte, certPath string) (*Bundle, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", certPath, err)
	}
	if !pair.Leaf.IsCA {
		return nil, fmt.Errorf("load CA %s: not a CA certificate", certPath)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("load CA %s: key of type %T cannot sign", certPath, pair.PrivateKey)
	}
	return &Bundle{CAPEM: certPEM, CA: pair.Leaf, caKey: key}, nil
}
