package servers

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

func TestToken(t *testing.T) {
	dir := t.TempDir()
	b, err := pki.LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, TokenFile)
	tok, err := LoadOrCreateToken(path, b.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateToken(path, b.CAPEM)
	if err != nil || again != tok {
		t.Fatalf("token changed on reload: %v %v", again, err)
	}
	parsed, err := ParseToken(tok.String())
	if err != nil || parsed != tok {
		t.Fatalf("ParseToken(%q) = %v, %v", tok.String(), parsed, err)
	}
	if !tok.Matches(tok.Secret) || tok.Matches(tok.Secret+"x") || tok.Matches("") {
		t.Error("Matches")
	}
	for _, bad := range []string{
		"",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", // a node token
		"shoal-server:sha256-abc:secret",
		"shoal-server:sha256-" + strings.Repeat("zz", 32) + ":secret",
		"shoal-server:sha256-" + strings.Repeat("ab", 32) + ":",
	} {
		if _, err := ParseToken(bad); !errors.Is(err, ErrNotServerToken) {
			t.Errorf("ParseToken(%q) = %v, want ErrNotServerToken", bad, err)
		}
	}
	// Another CA (the certificate signed again): the same secret, the new
	// hash.
	other, err := pki.LoadOrCreate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := LoadOrCreateToken(path, other.CAPEM)
	if err != nil || moved.Secret != tok.Secret || moved.CAHash == tok.CAHash {
		t.Errorf("token for another CA: %v %v", moved, err)
	}
}

func TestInitialClusterAndConflicts(t *testing.T) {
	ms := []Member{
		{ID: 0x1, Name: "s1", PeerURLs: []string{"https://10.0.0.1:2380"}},
		{ID: 0x2, Name: "", PeerURLs: []string{"https://10.0.0.2:2380"}, Learner: true},
	}
	if got, want := InitialCluster(ms), "s1=https://10.0.0.1:2380,unstarted-2=https://10.0.0.2:2380"; got != want {
		t.Errorf("InitialCluster = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		req    JoinRequest
		wantID uint64
		err    bool
	}{
		{JoinRequest{Name: "s3", PeerURL: "https://10.0.0.3:2380"}, 0, false},
		{JoinRequest{Name: "s2", PeerURL: "https://10.0.0.2:2380"}, 0x2, false}, // its own unstarted member
		{JoinRequest{Name: "s1", PeerURL: "https://10.0.0.9:2380"}, 0, true},    // name taken
		{JoinRequest{Name: "s9", PeerURL: "https://10.0.0.1:2380"}, 0, true},    // peer URL taken
	} {
		id, err := conflict(ms, tt.req)
		if id != tt.wantID || (err != nil) != tt.err || err != nil && !errors.Is(err, ErrMemberExists) {
			t.Errorf("conflict(%+v) = %x, %v", tt.req, id, err)
		}
	}
}

// The join handler against a real etcd: a wrong or missing token is
// refused and adds no member; a right one adds a learner and returns the
// files and members; the same server asking again gets the same member;
// bad requests say what is wrong.
func TestJoinHandler(t *testing.T) {
	e := storetest.StartEtcd(t)
	client := e.Client(t)
	dir := t.TempDir()
	b, err := pki.LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := LoadOrCreateToken(filepath.Join(dir, TokenFile), b.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Token: tok, CAPEM: b.CAPEM, Etcd: client, Log: slog.New(slog.DiscardHandler),
		Files: func() (map[string][]byte, error) { return map[string][]byte{"tokens.csv": []byte("x")}, nil }}
	join := h.Public()[JoinPath]
	post := func(secret string, req any) *httptest.ResponseRecorder {
		body, _ := json.Marshal(req)
		r := httptest.NewRequest(http.MethodPost, JoinPath, bytes.NewReader(body))
		if secret != "" {
			r.Header.Set("Authorization", "Bearer "+secret)
		}
		w := httptest.NewRecorder()
		join.ServeHTTP(w, r)
		return w
	}
	count := func() int {
		l, err := client.MemberList(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Members)
	}
	req := JoinRequest{Name: "s2", PeerURL: "https://127.0.0.9:2380"}
	refusedBefore := testutil.ToFloat64(joins.WithLabelValues("refused_token"))
	for _, secret := range []string{"", "wrong", tok.Secret + "0"} {
		if w := post(secret, req); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "not this cluster's server token") {
			t.Errorf("secret %q: %d %s", secret, w.Code, w.Body)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("%d members after refused joins", n)
	}
	if d := testutil.ToFloat64(joins.WithLabelValues("refused_token")) - refusedBefore; d != 3 {
		t.Errorf("shoal_servers_joins_total{result=refused_token} went up by %v, want 3", d)
	}
	for _, bad := range []JoinRequest{{Name: "S_2", PeerURL: req.PeerURL}, {Name: "s2", PeerURL: "http://127.0.0.9:2380"}, {Name: "s2", PeerURL: "https://127.0.0.9"}} {
		if w := post(tok.Secret, bad); w.Code != http.StatusBadRequest {
			t.Errorf("%+v: %d %s", bad, w.Code, w.Body)
		}
	}
	var first Bootstrap
	for i := range 2 {
		w := post(tok.Secret, req)
		if w.Code != http.StatusOK {
			t.Fatalf("join %d: %d %s", i, w.Code, w.Body)
		}
		var got Bootstrap
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if string(got.Files["tokens.csv"]) != "x" || len(got.Members) != 2 {
			t.Fatalf("join %d: %+v", i, got)
		}
		if i == 0 {
			first = got
		} else if got.MemberID != first.MemberID {
			t.Errorf("asking again added member %x, want the unstarted %x again", got.MemberID, first.MemberID)
		}
	}
	if n := count(); n != 2 {
		t.Fatalf("%d members, want 2", n)
	}
	if !strings.Contains(InitialCluster(first.Members), "s2=https://127.0.0.9:2380") {
		t.Errorf("initial cluster %q does not name the joining server", InitialCluster(first.Members))
	}
	// A second server while the first has not started: etcd allows one
	// learner; the answer says to try again (503, which Join retries).
	if w := post(tok.Secret, JoinRequest{Name: "s3", PeerURL: "https://127.0.0.10:2380"}); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "another server is joining") {
		t.Errorf("second join: %d %s", w.Code, w.Body)
	}
	// The unstarted member can be removed by its ID.
	rm := httptest.NewRequest(http.MethodDelete, ServersPath+"/"+Member{ID: first.MemberID}.IDString(), nil)
	w := httptest.NewRecorder()
	h.Servers()[ServersPath+"/"].ServeHTTP(w, rm)
	if w.Code != http.StatusOK || count() != 1 {
		t.Errorf("remove the unstarted member: %d %s; %d members", w.Code, w.Body, count())
	}
}

// Join over HTTPS: the CA the server presents must be the token's; then
// the secret goes over TLS verified with it.
func TestJoinClient(t *testing.T) {
	e := storetest.StartEtcd(t)
	dir := t.TempDir()
	b, err := pki.LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := LoadOrCreateToken(filepath.Join(dir, TokenFile), b.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Token: tok, CAPEM: b.CAPEM, Etcd: e.Client(t), Log: slog.New(slog.DiscardHandler),
		Files: func() (map[string][]byte, error) { return map[string][]byte{}, nil }}
	mux := http.NewServeMux()
	for p, hh := range h.Public() {
		mux.Handle(p, hh)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = b.ServerTLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	req := JoinRequest{Name: "s2", PeerURL: "https://127.0.0.9:2380"}
	if _, err := Join(t.Context(), srv.URL, tok, req); err != nil {
		t.Fatalf("join: %v", err)
	}
	other := tok
	other.CAHash[0] ^= 1
	if _, err := Join(t.Context(), srv.URL, other, req); !errors.Is(err, ErrCAMismatch) {
		t.Errorf("join with another CA's hash: %v, want ErrCAMismatch", err)
	}
	if _, err := Join(t.Context(), "http://"+strings.TrimPrefix(srv.URL, "https://"), tok, req); err == nil {
		t.Error("join over http succeeded")
	}
}
