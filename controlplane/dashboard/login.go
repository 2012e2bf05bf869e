package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// CodeTTL is how long an unused login link works; SessionTTL how long the
// session it is traded for does.
const (
	CodeTTL    = time.Hour
	SessionTTL = 12 * time.Hour
)

// maxGrants bounds the codes and the sessions held, so a flood of logins
// cannot grow memory without end; the oldest goes first.
const maxGrants = 1024

// errTooMany is returned when the login codes outnumber maxGrants.
var errTooMany = errors.New("too many unused login codes")

// grant is what a code or session stands for: a bearer token the API
// server accepts, until a moment.
type grant struct {
	token   string
	expires time.Time
}

// logins holds one-time login codes and the sessions they became. Both are
// kept by their SHA-256, so the map's keys reveal nothing, and both live in
// this process only: a link works on the API server that printed it.
type logins struct {
	now      func() time.Time
	mu       sync.Mutex
	codes    map[[sha256.Size]byte]grant
	sessions map[[sha256.Size]byte]grant
}

func newLogins() *logins {
	return &logins{now: time.Now, codes: map[[sha256.Size]byte]grant{}, sessions: map[[sha256.Size]byte]grant{}}
}

// issue makes a one-time code standing for token.
func (l *logins) issue(token string) (string, error) {
	code := randomString()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(l.codes)
	if len(l.codes) >= maxGrants {
		return "", errTooMany
	}
	l.codes[sha256.Sum256([]byte(code))] = grant{token: token, expires: l.now().Add(CodeTTL)}
	return code, nil
}

// redeem trades a code, once, for a new session token.
func (l *logins) redeem(code string) (string, bool) {
	h := sha256.Sum256([]byte(code))
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.codes[h]
	delete(l.codes, h)
	if !ok || !l.now().Before(g.expires) {
		return "", false
	}
	l.expireLocked(l.sessions)
	if len(l.sessions) >= maxGrants {
		l.dropOldestLocked(l.sessions)
	}
	session := sessionPrefix + randomString()
	l.sessions[sha256.Sum256([]byte(session))] = grant{token: g.token, expires: l.now().Add(SessionTTL)}
	return session, true
}

// token is the bearer token a live session stands for.
func (l *logins) token(session string) (string, bool) {
	h := sha256.Sum256([]byte(session))
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.sessions[h]
	if !ok || !l.now().Before(g.expires) {
		delete(l.sessions, h)
		return "", false
	}
	return g.token, true
}

// end ends a session (logging out).
func (l *logins) end(session string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sessions, sha256.Sum256([]byte(session)))
}

func (l *logins) expireLocked(m map[[sha256.Size]byte]grant) {
	now := l.now()
	for h, g := range m {
		if !now.Before(g.expires) {
			delete(m, h)
		}
	}
}

func (l *logins) dropOldestLocked(m map[[sha256.Size]byte]grant) {
	var oldest [sha256.Size]byte
	var first time.Time
	for h, g := range m {
		if first.IsZero() || g.expires.Before(first) {
			oldest, first = h, g.expires
		}
	}
	delete(m, oldest)
}

// randomString is 256 random bits, URL-safe.
func randomString() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather)
	return base64.RawURLEncoding.EncodeToString(b)
}
