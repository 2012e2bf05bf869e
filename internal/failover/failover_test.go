package failover

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Requests go to the first server until it is gone, then to the next, a
// request body included; the server in use is kept.
func TestFailover(t *testing.T) {
	var hits [2][]string
	var servers [2]*httptest.Server
	for i := range servers {
		servers[i] = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			hits[i] = append(hits[i], r.Method+" "+string(b))
		}))
		t.Cleanup(servers[i].Close)
	}
	s, err := New([]string{servers[0].URL, servers[1].URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tr := servers[0].Client().Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	hc := &http.Client{Transport: s.Wrap(tr)}
	post := func(body string) {
		t.Helper()
		resp, err := hc.Post(s.Current()+"/x", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %q: %v", body, err)
		}
		resp.Body.Close()
	}
	post("one")
	servers[0].Close()
	post("two")
	post("three")
	if strings.Join(hits[0], ",") != "POST one" || strings.Join(hits[1], ",") != "POST two,POST three" {
		t.Errorf("first server got %q, second %q", hits[0], hits[1])
	}
	if s.Current() != servers[1].URL {
		t.Errorf("in use: %s, want %s", s.Current(), servers[1].URL)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, bad := range [][]string{nil, {"http://10.0.0.1:6443"}, {"10.0.0.1:6443"}, {"https://10.0.0.1:6443/api"}} {
		if _, err := New(bad, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
}
