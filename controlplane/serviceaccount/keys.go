package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// Keys are the key pair tokens are signed with and the public keys tokens
// are accepted from. It is the one place that knows where keys come from:
// today files in the data dir; a later version may read them from etcd.
type Keys struct {
	signer    crypto.Signer
	alg       jose.SignatureAlgorithm
	signingID string
	// verify holds every accepted public key by key ID.
	verify map[string]crypto.PublicKey
}

// SigningKeyID is the key ID (the JWT header's kid) of the signing key.
func (k *Keys) SigningKeyID() string { return k.signingID }

// LoadOrCreateKeys reads the signing key from signingKeyFile (a PEM private
// key: PKCS#8, or SEC 1 EC, or PKCS#1 RSA as kubeadm writes sa.key). If
// create is set and the file does not exist, a new ECDSA P-256 key is
// written there (mode 0600) first. publicKeyFiles add public keys (PEM
// public or private keys, or certificates) whose tokens are accepted too:
// the old key, while tokens it signed are still in use after a rotation.
func LoadOrCreateKeys(signingKeyFile string, create bool, publicKeyFiles []string) (*Keys, error) {
	data, err := os.ReadFile(signingKeyFile)
	if create && errors.Is(err, fs.ErrNotExist) {
		data, err = newKeyFile(signingKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("service account signing key: %w", err)
	}
	signer, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("service account signing key %s: %w", signingKeyFile, err)
	}
	k := &Keys{signer: signer, verify: map[string]crypto.PublicKey{}}
	switch pub := signer.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("service account signing key %s: an ECDSA key must be on P-256", signingKeyFile)
		}
		k.alg = jose.ES256
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("service account signing key %s: an RSA key must have at least 2048 bits", signingKeyFile)
		}
		k.alg = jose.RS256
	default:
		return nil, fmt.Errorf("service account signing key %s: %T keys are not supported; use ECDSA P-256 or RSA", signingKeyFile, pub)
	}
	if k.signingID, err = keyID(signer.Public()); err != nil {
		return nil, err
	}
	k.verify[k.signingID] = signer.Public()
	for _, f := range publicKeyFiles {
		if err := k.addPublicKeys(f); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func newKeyFile(path string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return nil, err
	}
	return data, nil
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", key)
	}
	return s, nil
}

// addPublicKeys adds every key in a PEM file.
func (k *Keys) addPublicKeys(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("service account key file: %w", err)
	}
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub crypto.PublicKey
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			var s crypto.Signer
			if s, err = parsePrivateKey(pem.EncodeToMemory(block)); err == nil {
				pub = s.Public()
			}
		}
		if err != nil {
			return fmt.Errorf("service account key file %s: %w", path, err)
		}
		id, err := keyID(pub)
		if err != nil {
			return fmt.Errorf("service account key file %s: %w", path, err)
		}
		k.verify[id] = pub
		n++
	}
	if n == 0 {
		return fmt.Errorf("service account key file %s: no PEM key in it", path)
	}
	return nil
}

// keyID is Kubernetes' key ID: the unpadded base64url SHA-256 of the
// public key's PKIX DER.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
