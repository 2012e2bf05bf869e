package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// parseTokens reads Kubernetes' static token format: one record per line,
// token,user,uid and optionally a quoted comma-separated list of groups.
// Unlike Kubernetes, which warns and goes on, an empty or duplicate token is
// an error: a token file is a security boundary, and a silently skipped line
// is a surprise.
func parseTokens(data []byte) ([]tokenEntry, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var entries []tokenEntry
	for n := 1; ; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if err != nil {
			return nil, err
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("record %d: want at least 3 columns (token, user, uid), have %d", n, len(rec))
		}
		if rec[0] == "" {
			return nil, fmt.Errorf("record %d: empty token", n)
		}
		if rec[1] == "" {
			return nil, fmt.Errorf("record %d: empty user name", n)
		}
		u := &User{Name: rec[1], UID: rec[2]}
		if len(rec) > 3 {
			for g := range strings.SplitSeq(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		entries = append(entries, tokenEntry{token: rec[0], user: u})
	}
}

func formatTokens(entries []tokenEntry) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, e := range entries {
		// Writing to a bytes.Buffer cannot fail.
		w.Write([]string{e.token, e.user.Name, e.user.UID, strings.Join(e.user.Groups, ",")})
	}
	w.Flush()
	return buf.Bytes()
}

func validateUser(user string, groups []string) error {
	if user == "" || strings.TrimSpace(user) != user {
		return fmt.Errorf("invalid user name %q", user)
	}
	for _, g := range groups {
		// Groups share one comma-separated column.
		if g == "" || strings.TrimSpace(g) != g || strings.Contains(g, ",") {
			return fmt.Errorf("invalid group name %q", g)
		}
	}
	return nil
}

func newEntry(user string, groups []string) tokenEntry {
	return tokenEntry{token: newToken(), user: &User{Name: user, UID: newUID(), Groups: groups}}
}

// newToken returns 256 random bits in hex, safe in a CSV field and a header.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails; crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}

// newUID returns a random (version 4) UUID, the form Kubernetes UIDs take.
func newUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
