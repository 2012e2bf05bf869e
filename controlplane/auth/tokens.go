package auth

import (
	"github.com/shoalmesh/shoal/internal/atomicfile"

	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Tokens authenticates bearer tokens against a token file.
type Tokens struct {
	path string
	// mu serializes Add; Authenticate reads cur without locking.
	mu  sync.Mutex
	cur atomic.Pointer[tokenSet]
}

type tokenEntry struct {
	token string
	user  *User
}

// tokenSet is an immutable snapshot of the token file.
type tokenSet struct {
	entries []tokenEntry // in file order
	// byHash finds the candidate entry without comparing the secret itself in
	// variable time; the secret is then compared in constant time.
	byHash map[[sha256.Size]byte]tokenEntry
	admin  string
}

// LoadOrCreateTokens reads the token file at path. If there is none it creates
// one (mode 0600) with a random token for user admin in system:masters and one
// for user viewer in shoal:viewers. A file without an admin token is an error
// (ErrNoAdminToken).
func LoadOrCreateTokens(path string) (*Tokens, error) {
	var entries []tokenEntry
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		entries = []tokenEntry{
			newEntry(AdminUser, []string{GroupMasters}),
			newEntry(ViewerUser, []string{GroupViewers}),
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		if err := atomicfile.Write(path, formatTokens(entries), 0o600); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	default:
		if entries, err = parseTokens(data); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	set, err := newTokenSet(entries)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if set.admin == "" {
		return nil, fmt.Errorf("load %s: %w", path, ErrNoAdminToken)
	}
	t := &Tokens{path: path}
	t.cur.Store(set)
	return t, nil
}

// Admin returns the admin user's token, for the admin kubeconfig.
func (t *Tokens) Admin() string {
	return t.cur.Load().admin
}

// Add issues a new random token for user in groups and appends it to the
// token file. It is how nodes get their credentials:
// Add(NodeUser(name), []string{GroupNodes}).
func (t *Tokens) Add(user string, groups []string) (string, error) {
	if err := validateUser(user, groups); err != nil {
		return "", err
	}
	e := newEntry(user, slices.Clone(groups))

	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	entries := append(slices.Clip(old.entries), e)
	if _, dup := old.byHash[sha256.Sum256([]byte(e.token))]; dup {
		return "", fmt.Errorf("add token for %s: random token collided", user)
	}
	set := &tokenSet{entries: entries, byHash: maps.Clone(old.byHash), admin: old.admin}
	set.byHash[sha256.Sum256([]byte(e.token))] = e
	if err := atomicfile.Write(t.path, formatTokens(entries), 0o600); err != nil {
		return "", err
	}
	t.cur.Store(set)
	return e.token, nil
}

// TokenFor returns the first token of user, if it has one. The API server
// uses a node's own token to reach that node's agent (pods/log).
func (t *Tokens) TokenFor(user string) (string, bool) {
	for _, e := range t.cur.Load().entries {
		if e.user.Name == user {
			return e.token, true
		}
	}
	return "", false
}

// NodeToken returns the token of node name, issuing one if it has none.
func (t *Tokens) NodeToken(name string) (string, error) {
	if tok, ok := t.TokenFor(NodeUser(name)); ok {
		return tok, nil
	}
	return t.Add(NodeUser(name), []string{GroupNodes})
}

// Authenticate returns the user whose token the request carries in an
// "Authorization: Bearer <token>" header. The returned User is shared and
// must not be modified.
func (t *Tokens) Authenticate(r *http.Request) (*User, bool) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, false
	}
	return t.lookup(token)
}

func (t *Tokens) lookup(token string) (*User, bool) {
	e, ok := t.cur.Load().byHash[sha256.Sum256([]byte(token))]
	if !ok || subtle.ConstantTimeCompare([]byte(e.token), []byte(token)) != 1 {
		return nil, false
	}
	return e.user, true
}

// bearerToken parses an Authorization header the way Kubernetes does: the
// scheme is case-insensitive and the token is the next space-separated word.
func bearerToken(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token, _, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	return token, token != ""
}

func newTokenSet(entries []tokenEntry) (*tokenSet, error) {
	set := &tokenSet{entries: entries, byHash: make(map[[sha256.Size]byte]tokenEntry, len(entries))}
	for i, e := range entries {
		h := sha256.Sum256([]byte(e.token))
		if _, dup := set.byHash[h]; dup {
			return nil, fmt.Errorf("record %d: duplicate token", i+1)
		}
		set.byHash[h] = e
		if set.admin == "" && e.user.Name == AdminUser {
			set.admin = e.token
		}
	}
	return set, nil
}
