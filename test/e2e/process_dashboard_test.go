package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// loginLink is the banner's one-time dashboard login link.
var loginLink = regexp.MustCompile(`login link \(good for [^)]*\): (https://\S+/ui/)#login=([A-Za-z0-9_-]+)`)

// checkDashboardLogin follows the dashboard login link `shoal up` printed,
// as the page does: no data without credentials, the code traded once for
// a session, and the session's stream carries the cluster's state.
func (p *shoalProc) checkDashboardLogin(t *testing.T) {
	t.Helper()
	m := loginLink.FindStringSubmatch(p.stdout.String())
	if m == nil {
		t.Fatalf("the banner has no dashboard login link:\n%s", p.stdout.String())
	}
	ui, code := m[1], m[2]
	kc, err := clientcmd.LoadFromFile(p.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].CertificateAuthorityData)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	get := func(token string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ui+"api/stream", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %sapi/stream: %v", ui, err)
		}
		return resp
	}
	if resp := get(""); resp.StatusCode != http.StatusUnauthorized {
		resp.Body.Close()
		t.Fatalf("the dashboard's stream without a token = %s, want 401", resp.Status)
	}

	login := func() *http.Response {
		resp, err := hc.Post(ui+"api/login", "application/json", strings.NewReader(`{"code":"`+code+`"}`))
		if err != nil {
			t.Fatalf("log in: %v", err)
		}
		return resp
	}
	resp := login()
	var got struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || got.Token == "" {
		t.Fatalf("log in with the banner's link = %s (%v)", resp.Status, err)
	}
	if again := login(); again.StatusCode != http.StatusUnauthorized {
		again.Body.Close()
		t.Fatalf("the login link used twice = %s, want 401", again.Status)
	}

	stream := get(got.Token)
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("the session's stream = %s", stream.Status)
	}
	sc := bufio.NewScanner(stream.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	// The first message is the admin's; the kubernetes Service is in it or,
	// on a server this young, in one of the next (the client's timeout
	// bounds the wait).
	first := true
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if first && !strings.Contains(line, `"user":"admin"`) {
			t.Fatalf("the first message is not the admin's: %.300s", line)
		}
		first = false
		if strings.Contains(line, `"name":"kubernetes"`) {
			return
		}
	}
	t.Fatalf("the stream ended before it showed the kubernetes Service: %v", sc.Err())
}
