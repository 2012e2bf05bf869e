package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
)

// encPrefix starts every encrypted value, whatever the provider.
const encPrefix = "k8s:enc:"

// Transformer encrypts and decrypts one resource's values with an ordered
// list of providers: the first writes, any reads. It implements
// store.Transformer.
type Transformer struct {
	providers []provider
}

// provider is one key of a provider, or identity (no prefix, no cipher).
type provider struct {
	prefix string
	cipher sealer
}

// sealer seals and opens values; key is the etcd key the value lives at.
type sealer interface {
	seal(plain []byte, key string) ([]byte, error)
	open(sealed []byte, key string) ([]byte, error)
}

// TransformToStorage encrypts data with the first provider.
func (t *Transformer) TransformToStorage(data []byte, key string) ([]byte, error) {
	p := t.providers[0]
	if p.cipher == nil {
		return data, nil
	}
	sealed, err := p.cipher.seal(data, key)
	if err != nil {
		return nil, err
	}
	return append([]byte(p.prefix), sealed...), nil
}

// TransformFromStorage decrypts data with the provider whose prefix it
// carries; a value without a prefix is read as is if identity is listed.
// stale is true unless the value is what the first provider writes.
func (t *Transformer) TransformFromStorage(data []byte, key string) ([]byte, bool, error) {
	identity := -1
	for i, p := range t.providers {
		if p.cipher == nil {
			if identity < 0 {
				identity = i
			}
			continue
		}
		if !bytes.HasPrefix(data, []byte(p.prefix)) {
			continue
		}
		plain, err := p.cipher.open(data[len(p.prefix):], key)
		if err != nil {
			return nil, false, fmt.Errorf("decrypt with %s: %w", p.prefix[:len(p.prefix)-1], err)
		}
		return plain, i != 0, nil
	}
	if !bytes.HasPrefix(data, []byte(encPrefix)) && identity >= 0 {
		return data, identity != 0, nil
	}
	return nil, false, fmt.Errorf("%w (written as %s)", ErrNoProvider, describe(data))
}

// describe names how a value was written: its prefix up to the key name,
// which holds nothing secret, or "unencrypted".
func describe(data []byte) string {
	if !bytes.HasPrefix(data, []byte(encPrefix)) {
		return "unencrypted"
	}
	// k8s:enc:<provider>:v1:<name>:
	n, end := 0, 0
	for i, b := range data {
		if b == ':' {
			n++
			if n == 5 {
				end = i
				break
			}
		}
	}
	if end == 0 || end > 200 {
		return "an unknown encryption"
	}
	return fmt.Sprintf("%q", data[:end])
}

// aesGCM is AES-GCM with a random 12-byte nonce stored before the
// ciphertext and the etcd key as additional data, as kube-apiserver's
// aesgcm provider.
type aesGCM struct{ aead cipher.AEAD }

func newAESGCM(key []byte) (sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return aesGCM{aead}, nil
}

func (c aesGCM) seal(plain []byte, key string) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	rand.Read(nonce) // never fails
	return c.aead.Seal(nonce, nonce, plain, []byte(key)), nil
}

func (c aesGCM) open(sealed []byte, key string) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("the value is shorter than a nonce")
	}
	return c.aead.Open(nil, sealed[:n], sealed[n:], []byte(key))
}

// secretboxKeySize is NaCl secretbox's key size.
const secretboxKeySize = 32

// naclSecretbox is XSalsa20-Poly1305 with a random 24-byte nonce stored
// before the box, as kube-apiserver's secretbox provider.
type naclSecretbox struct{ key [secretboxKeySize]byte }

func newSecretbox(key []byte) (sealer, error) {
	var c naclSecretbox
	copy(c.key[:], key)
	return c, nil
}

func (c naclSecretbox) seal(plain []byte, _ string) ([]byte, error) {
	var nonce [24]byte
	rand.Read(nonce[:])
	return secretbox.Seal(nonce[:], plain, &nonce, &c.key), nil
}

func (c naclSecretbox) open(sealed []byte, _ string) ([]byte, error) {
	if len(sealed) < 24 {
		return nil, errors.New("the value is shorter than a nonce")
	}
	var nonce [24]byte
	copy(nonce[:], sealed)
	out, ok := secretbox.Open(nil, sealed[24:], &nonce, &c.key)
	if !ok {
		return nil, errors.New("the value does not open with this key")
	}
	return out, nil
}
