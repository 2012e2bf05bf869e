package servers

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// TokenFile is where a server keeps the server token, in its data dir.
const TokenFile = "server-token"

const tokenPrefix = "shoal-server:sha256-"

// Token is a server token: shoal-server:sha256-<CA hash>:<secret>.
type Token struct {
	// CAHash is the SHA-256 of the cluster CA certificate (DER).
	CAHash [sha256.Size]byte
	Secret string
}

// String is the token as users pass it to --token.
func (t Token) String() string {
	return tokenPrefix + hex.EncodeToString(t.CAHash[:]) + ":" + t.Secret
}

// ParseToken reads a server token; anything else is ErrNotServerToken.
func ParseToken(s string) (Token, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), tokenPrefix)
	hash, secret, ok2 := strings.Cut(rest, ":")
	var t Token
	if !ok || !ok2 || secret == "" || len(hash) != 2*sha256.Size {
		return t, ErrNotServerToken
	}
	if _, err := hex.Decode(t.CAHash[:], []byte(hash)); err != nil {
		return t, ErrNotServerToken
	}
	t.Secret = secret
	return t, nil
}

// Matches reports, in constant time, whether secret is t's secret.
func (t Token) Matches(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1
}

// CAHash is the hash a token names for the CA certificate in caPEM.
func CAHash(caPEM []byte) ([sha256.Size]byte, error) {
	block, _ := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return [sha256.Size]byte{}, errors.New("CA: no PEM certificate")
	}
	return sha256.Sum256(block.Bytes), nil
}

// LoadOrCreateToken returns the server token kept at path, for the CA in
// caPEM: it makes one with a new secret if there is none, and names the
// current CA if the file names another hash (the CA certificate was signed
// again from the same key) — the secret never changes.
func LoadOrCreateToken(path string, caPEM []byte) (Token, error) {
	hash, err := CAHash(caPEM)
	if err != nil {
		return Token{}, err
	}
	data, err := os.ReadFile(path)
	var t Token
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b := make([]byte, 32)
		rand.Read(b) // never fails
		t.Secret = hex.EncodeToString(b)
	case err != nil:
		return Token{}, fmt.Errorf("read the server token: %w", err)
	default:
		if t, err = ParseToken(string(data)); err != nil {
			return Token{}, fmt.Errorf("server token %s: %w", path, err)
		}
		if t.CAHash == hash {
			return t, nil
		}
	}
	t.CAHash = hash
	if err := WriteToken(path, t); err != nil {
		return Token{}, err
	}
	return t, nil
}

// WriteToken keeps t at path (mode 0600).
func WriteToken(path string, t Token) error {
	return atomicfile.Write(path, []byte(t.String()+"\n"), 0o600)
}
