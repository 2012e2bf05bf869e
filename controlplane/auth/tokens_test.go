package auth

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func loadTokens(t *testing.T, path string) *Tokens {
	t.Helper()
	tokens, err := LoadOrCreateTokens(path)
	if err != nil {
		t.Fatalf("LoadOrCreateTokens: %v", err)
	}
	return tokens
}

// tokenOf returns the first token issued to user.
func tokenOf(t *testing.T, tokens *Tokens, user string) string {
	t.Helper()
	for _, e := range tokens.cur.Load().entries {
		if e.user.Name == user {
			return e.token
		}
	}
	t.Fatalf("no token for %s", user)
	return ""
}

func request(header string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:6443/api", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

func TestTokensCreateAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "tokens.csv")
	tokens := loadTokens(t, path)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %v, want 0600", fi.Mode().Perm())
	}
	admin := tokens.Admin()
	if len(admin) != 64 {
		t.Fatalf("admin token %q, want 64 hex characters", admin)
	}
	viewer := tokenOf(t, tokens, ViewerUser)

	nodeToken, err := tokens.Add(NodeUser("n1"), []string{GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode after Add = %v, want 0600", fi.Mode().Perm())
	}

	reloaded := loadTokens(t, path)
	if reloaded.Admin() != admin {
		t.Error("admin token changed on reload")
	}
	tests := []struct {
		token      string
		wantUser   string
		wantGroups []string
	}{
		{admin, AdminUser, []string{GroupMasters}},
		{viewer, ViewerUser, []string{GroupViewers}},
		{nodeToken, "system:node:n1", []string{GroupNodes}},
	}
	for _, tt := range tests {
		for name, tk := range map[string]*Tokens{"original": tokens, "reloaded": reloaded} {
			u, ok := tk.Authenticate(request("Bearer " + tt.token))
			if !ok || u.Name != tt.wantUser || !slices.Equal(u.Groups, tt.wantGroups) || u.UID == "" {
				t.Errorf("%s: token of %s authenticates as %+v, %v", name, tt.wantUser, u, ok)
			}
		}
	}
	a1, _ := tokens.Authenticate(request("Bearer " + admin))
	a2, _ := reloaded.Authenticate(request("Bearer " + admin))
	if a1.UID != a2.UID {
		t.Errorf("admin UID changed on reload: %s, %s", a1.UID, a2.UID)
	}
}

func TestAuthenticate(t *testing.T) {
	tokens := loadTokens(t, filepath.Join(t.TempDir(), "tokens.csv"))
	admin := tokens.Admin()
	// Same length, differs only in the last character.
	wrong := admin[:63] + "0"
	if admin[63] == '0' {
		wrong = admin[:63] + "1"
	}

	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"bearer", "Bearer " + admin, AdminUser},
		{"lower-case scheme", "bearer " + admin, AdminUser},
		{"upper-case scheme", "BEARER " + admin, AdminUser},
		{"extra spaces", "  Bearer   " + admin + "  ", AdminUser},
		{"missing header", "", ""},
		{"basic scheme", "Basic " + admin, ""},
		{"no token", "Bearer", ""},
		{"empty token", "Bearer    ", ""},
		{"no scheme", admin, ""},
		{"wrong token", "Bearer " + wrong, ""},
		{"prefix of token", "Bearer " + admin[:32], ""},
		{"token with suffix", "Bearer " + admin + "x", ""},
		{"unknown token", "Bearer not-a-token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := tokens.Authenticate(request(tt.header))
			if tt.want == "" {
				if ok {
					t.Fatalf("authenticated as %+v", u)
				}
				return
			}
			if !ok || u.Name != tt.want {
				t.Fatalf("got %+v, %v; want %s", u, ok, tt.want)
			}
		})
	}
}

func TestParseTokens(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    []User // tokens are t1, t2, ...
		wantErr bool
	}{
		{
			name: "kubernetes format",
			file: "t1,alice,1,\"group1,group2\"\nt2,bob,2\nt3,carol,3,system:masters\n",
			want: []User{
				{Name: "alice", UID: "1", Groups: []string{"group1", "group2"}},
				{Name: "bob", UID: "2"},
				{Name: "carol", UID: "3", Groups: []string{GroupMasters}},
			},
		},
		{name: "spaces in groups", file: "t1,alice,1,\"a, b,\"\n", want: []User{{Name: "alice", UID: "1", Groups: []string{"a", "b"}}}},
		{name: "empty file", file: ""},
		{name: "too few columns", file: "t1,alice\n", wantErr: true},
		{name: "empty token", file: ",alice,1\n", wantErr: true},
		{name: "empty user", file: "t1,,1\n", wantErr: true},
		{name: "bad quoting", file: "t1,alice,1,\"a\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := parseTokens([]byte(tt.file))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(entries), len(tt.want))
			}
			for i, e := range entries {
				w := tt.want[i]
				if e.token != "t"+string(rune('1'+i)) || e.user.Name != w.Name || e.user.UID != w.UID || !slices.Equal(e.user.Groups, w.Groups) {
					t.Errorf("entry %d = %q %+v, want %+v", i, e.token, e.user, w)
				}
			}
			// What we write, we read back the same.
			again, err := parseTokens(formatTokens(entries))
			if err != nil || len(again) != len(entries) {
				t.Fatalf("round trip: %v, %d entries", err, len(again))
			}
			for i := range again {
				if again[i].token != entries[i].token || again[i].user.Name != entries[i].user.Name || !slices.Equal(again[i].user.Groups, entries[i].user.Groups) {
					t.Errorf("round trip entry %d = %+v, want %+v", i, again[i].user, entries[i].user)
				}
			}
		})
	}
}

func TestLoadTokensErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
	}{
		{"no admin", "t1,viewer,1,shoal:viewers\n"},
		{"duplicate token", "t1,admin,1,system:masters\nt1,viewer,2,shoal:viewers\n"},
		{"malformed", "t1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.csv")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateTokens(path); err == nil {
				t.Fatal("loaded")
			}
		})
	}
}

func TestAddValidation(t *testing.T) {
	tokens := loadTokens(t, filepath.Join(t.TempDir(), "tokens.csv"))
	tests := []struct {
		user   string
		groups []string
		ok     bool
	}{
		{"system:node:n1", []string{GroupNodes}, true},
		{"a user, with \"quotes\"", nil, true},
		{"", nil, false},
		{" padded", nil, false},
		{"u", []string{"a,b"}, false},
		{"u", []string{""}, false},
	}
	for _, tt := range tests {
		token, err := tokens.Add(tt.user, tt.groups)
		if (err == nil) != tt.ok {
			t.Errorf("Add(%q, %q) = %v, want ok=%v", tt.user, tt.groups, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		reloaded := loadTokens(t, tokens.path)
		if u, ok := reloaded.Authenticate(request("Bearer " + token)); !ok || u.Name != tt.user {
			t.Errorf("token for %q after reload: %+v, %v", tt.user, u, ok)
		}
	}
}

func TestAddWhileAuthenticating(t *testing.T) {
	tokens := loadTokens(t, filepath.Join(t.TempDir(), "tokens.csv"))
	admin := request("Bearer " + tokens.Admin())
	var wg sync.WaitGroup
	added := make([]string, 8)
	for i := range added {
		wg.Go(func() {
			tk, err := tokens.Add(NodeUser(string(rune('a'+i))), []string{GroupNodes})
			if err != nil {
				t.Error(err)
			}
			added[i] = tk
		})
		wg.Go(func() {
			if _, ok := tokens.Authenticate(admin); !ok {
				t.Error("admin token rejected during Add")
			}
		})
	}
	wg.Wait()
	reloaded := loadTokens(t, tokens.path)
	for i, tk := range added {
		if u, ok := reloaded.Authenticate(request("Bearer " + tk)); !ok || u.Name != NodeUser(string(rune('a'+i))) {
			t.Errorf("token %d lost: %+v, %v", i, u, ok)
		}
	}
}
