package auth

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoalmesh/shoal/controlplane/pki"
)

func TestWriteKubeconfig(t *testing.T) {
	dir := t.TempDir()
	bundle, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := loadTokens(t, filepath.Join(dir, "tokens.csv"))
	path := filepath.Join(dir, "home", ".kube", "config")
	const server = "https://127.0.0.1:6443"

	if err := WriteKubeconfig(path, server, bundle.CAPEM, AdminUser, tokens.Admin()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode = %v, want 0600", fi.Mode().Perm())
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("BuildConfigFromFlags: %v", err)
	}
	if cfg.Host != server || cfg.BearerToken != tokens.Admin() || !bytes.Equal(cfg.TLSClientConfig.CAData, bundle.CAPEM) {
		t.Errorf("rest config: host %q token %q CA %d bytes", cfg.Host, cfg.BearerToken, len(cfg.TLSClientConfig.CAData))
	}
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ctx := raw.Contexts[raw.CurrentContext]; raw.CurrentContext != "shoal" || ctx == nil || ctx.Cluster != "shoal" || ctx.AuthInfo != AdminUser {
		t.Errorf("current context %q = %+v", raw.CurrentContext, ctx)
	}

	// Overwriting keeps the file whole and private.
	if err := WriteKubeconfig(path, "https://10.0.0.1:6443", bundle.CAPEM, AdminUser, tokens.Admin()); err != nil {
		t.Fatal(err)
	}
	if cfg, err := clientcmd.BuildConfigFromFlags("", path); err != nil || cfg.Host != "https://10.0.0.1:6443" {
		t.Errorf("after rewrite: %v, %v", cfg, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files next to the kubeconfig, want 1", len(entries))
	}
}

func TestWriteKubeconfigInvalid(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\n")
	tests := []struct {
		name                string
		server, user, token string
		caPEM               []byte
	}{
		{"no server", "", AdminUser, "t", ca},
		{"no user", "https://127.0.0.1:6443", "", "t", ca},
		{"no token", "https://127.0.0.1:6443", AdminUser, "", ca},
		{"no CA", "https://127.0.0.1:6443", AdminUser, "t", nil},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "config")
		if err := WriteKubeconfig(path, tt.server, tt.caPEM, tt.user, tt.token); err == nil {
			t.Errorf("%s: written", tt.name)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: file created", tt.name)
		}
	}
}

// TestKubeconfigAgainstServer checks the pieces together the way kubectl uses
// them: client-go's transport built from the written kubeconfig, against a
// server with the generated certificate that authenticates and authorizes.
func TestKubeconfigAgainstServer(t *testing.T) {
	dir := t.TempDir()
	bundle, err := pki.LoadOrCreate(filepath.Join(dir, "pki"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := loadTokens(t, filepath.Join(dir, "tokens.csv"))

	srv := &http.Server{
		TLSConfig: bundle.ServerTLSConfig(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, ok := tokens.Authenticate(r)
			if !ok {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			verb := "get"
			if r.Method == http.MethodPost {
				verb = "create"
			}
			// Without RBAC: system:masters may, others may not.
			a := Attributes{User: Authenticated(u), Verb: verb, Resource: "services", Namespace: "default"}
			if d := (&Authorizer{}).Authorize(a); !d.Allowed {
				http.Error(w, "services is forbidden: "+Forbidden(a, d.Reason), http.StatusForbidden)
				return
			}
			io.WriteString(w, u.Name+" "+r.Proto)
		}),
	}
	ln := listenTLS(t, srv)
	server := "https://" + ln

	tests := []struct {
		name     string
		user     string
		token    string
		method   string
		wantCode int
		wantBody string
	}{
		{"admin creates", AdminUser, tokens.Admin(), http.MethodPost, http.StatusOK, "admin HTTP/2.0"},
		{"admin reads", AdminUser, tokens.Admin(), http.MethodGet, http.StatusOK, "admin HTTP/2.0"},
		{"viewer creates", ViewerUser, tokenOf(t, tokens, ViewerUser), http.MethodPost, http.StatusForbidden,
			`services is forbidden: User "viewer" cannot create resource "services" in API group "" in the namespace "default"` + "\n"},
		{"bad token", AdminUser, "nope", http.MethodGet, http.StatusUnauthorized, "Unauthorized\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := WriteKubeconfig(path, server, bundle.CAPEM, tt.user, tt.token); err != nil {
				t.Fatal(err)
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", path)
			if err != nil {
				t.Fatal(err)
			}
			client, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdleConnections()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, server+"/api/v1/namespaces/default/services", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode || string(body) != tt.wantBody {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

// listenTLS serves srv over TLS on a loopback port and returns its address.
func listenTLS(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
