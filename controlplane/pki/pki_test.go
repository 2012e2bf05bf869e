package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func mustLoad(t *testing.T, dir string, hosts []string, now time.Time) *Bundle {
	t.Helper()
	b, err := loadOrCreate(dir, hosts, now)
	if err != nil {
		t.Fatalf("loadOrCreate: %v", err)
	}
	return b
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadOrCreateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	b := mustLoad(t, dir, nil, time.Now())

	for name, mode := range map[string]os.FileMode{
		CACertFile: 0o644, CAKeyFile: 0o600, ServingCertFile: 0o644, ServingKeyFile: 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode = %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if !bytes.Equal(b.CAPEM, readFile(t, dir, CACertFile)) {
		t.Error("CAPEM differs from ca.crt")
	}
	if !b.CA.IsCA || b.CA.NotAfter.Sub(b.CA.NotBefore) < 9*365*24*time.Hour {
		t.Errorf("CA: IsCA=%v validity %v", b.CA.IsCA, b.CA.NotAfter.Sub(b.CA.NotBefore))
	}
	leaf := b.ServingCert.Leaf
	if leaf == nil {
		t.Fatal("ServingCert.Leaf not set")
	}
	if err := leaf.CheckSignatureFrom(b.CA); err != nil {
		t.Errorf("serving cert not signed by CA: %v", err)
	}
	for _, name := range []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"} {
		if !slices.Contains(leaf.DNSNames, name) {
			t.Errorf("serving cert lacks DNS name %q: %v", name, leaf.DNSNames)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.96.0.1"} {
		if !slices.ContainsFunc(leaf.IPAddresses, net.ParseIP(ip).Equal) {
			t.Errorf("serving cert lacks IP %s: %v", ip, leaf.IPAddresses)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("dir holds %d entries, want 4 (temp files left behind?)", len(entries))
	}
}

func TestLoadOrCreateReuse(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name        string
		firstHosts  []string
		hosts       []string
		now         time.Time
		remove      string // file removed before the second load
		wantReissue bool
	}{
		{name: "unchanged", now: now},
		{name: "default hosts repeated", hosts: []string{"127.0.0.1", "LOCALHOST"}, now: now},
		{name: "listen address", hosts: []string{"0.0.0.0:6443", "[::]:6443"}, now: now},
		{name: "same extra host", firstHosts: []string{"10.0.0.5"}, hosts: []string{"10.0.0.5:6443"}, now: now},
		{name: "new IP", hosts: []string{"192.168.1.10"}, now: now, wantReissue: true},
		{name: "new DNS name", hosts: []string{"shoal.example.com"}, now: now, wantReissue: true},
		{name: "new IPv6 with port", hosts: []string{"[fd00::1]:6443"}, now: now, wantReissue: true},
		{name: "11 months later", now: now.Add(335 * 24 * time.Hour), wantReissue: true},
		{name: "10 months later", now: now.Add(300 * 24 * time.Hour)},
		{name: "serving key lost", now: now, remove: ServingKeyFile, wantReissue: true},
		{name: "serving cert lost", now: now, remove: ServingCertFile, wantReissue: true},
		{name: "CA cert lost", now: now, remove: CACertFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := mustLoad(t, dir, tt.firstHosts, now)
			firstCAKey := readFile(t, dir, CAKeyFile)
			firstServing := readFile(t, dir, ServingCertFile)
			if tt.remove != "" {
				if err := os.Remove(filepath.Join(dir, tt.remove)); err != nil {
					t.Fatal(err)
				}
			}

			second := mustLoad(t, dir, tt.hosts, tt.now)

			if !bytes.Equal(firstCAKey, readFile(t, dir, CAKeyFile)) {
				t.Fatal("CA key replaced")
			}
			if tt.remove != CACertFile && !bytes.Equal(first.CAPEM, second.CAPEM) {
				t.Fatal("CA certificate replaced")
			}
			// A re-signed CA certificate must still verify what the old one signed.
			if err := first.ServingCert.Leaf.CheckSignatureFrom(second.CA); err != nil {
				t.Fatalf("old serving cert does not verify against the loaded CA: %v", err)
			}
			reissued := !bytes.Equal(firstServing, readFile(t, dir, ServingCertFile))
			if reissued != tt.wantReissue {
				t.Fatalf("serving cert re-issued = %v, want %v", reissued, tt.wantReissue)
			}
			leaf := second.ServingCert.Leaf
			if err := leaf.CheckSignatureFrom(second.CA); err != nil {
				t.Fatalf("serving cert not signed by CA: %v", err)
			}
			for _, h := range tt.hosts {
				if err := leaf.VerifyHostname(hostOnly(h)); err != nil && hostOnly(h) != "0.0.0.0" && hostOnly(h) != "::" {
					t.Errorf("serving cert does not cover %s: %v", h, err)
				}
			}
			if !tt.now.Add(renewBefore).Before(leaf.NotAfter) {
				t.Errorf("serving cert expires %v, within renewal window of %v", leaf.NotAfter, tt.now)
			}
		})
	}
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func TestLoadOrCreateErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr error
	}{
		{
			name: "CA key lost",
			prepare: func(t *testing.T, dir string) {
				mustLoad(t, dir, nil, time.Now())
				os.Remove(filepath.Join(dir, CAKeyFile))
			},
			wantErr: ErrIncompleteCA,
		},
		{
			name: "corrupt CA certificate",
			prepare: func(t *testing.T, dir string) {
				mustLoad(t, dir, nil, time.Now())
				os.WriteFile(filepath.Join(dir, CACertFile), []byte("garbage"), 0o644)
			},
		},
		{
			name: "CA certificate does not match key",
			prepare: func(t *testing.T, dir string) {
				mustLoad(t, dir, nil, time.Now())
				other := t.TempDir()
				mustLoad(t, other, nil, time.Now())
				os.WriteFile(filepath.Join(dir, CACertFile), readFile(t, other, CACertFile), 0o644)
			},
		},
		{
			name: "dir is a file",
			prepare: func(t *testing.T, dir string) {
				os.Remove(dir)
				os.WriteFile(dir, nil, 0o644)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			_, err := LoadOrCreate(dir, nil)
			if err == nil {
				t.Fatal("LoadOrCreate succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestServerTLS(t *testing.T) {
	b, err := LoadOrCreate(t.TempDir(), []string{"shoal.test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.ServerTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Proto))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	other, err := LoadOrCreate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	onlyCAPEM := x509.NewCertPool()
	if !onlyCAPEM.AppendCertsFromPEM(b.CAPEM) {
		t.Fatal("CAPEM holds no certificate")
	}

	tests := []struct {
		name       string
		serverName string
		roots      *x509.CertPool
		nextProtos []string
		maxVersion uint16
		wantErr    bool
		wantProto  string
	}{
		{name: "IP h2", serverName: "127.0.0.1", roots: onlyCAPEM, nextProtos: []string{"h2", "http/1.1"}, wantProto: "h2"},
		{name: "localhost http1", serverName: "localhost", roots: onlyCAPEM, nextProtos: []string{"http/1.1"}, wantProto: "http/1.1"},
		{name: "service name TLS 1.2", serverName: "kubernetes.default.svc", roots: b.ClientCAPool(), maxVersion: tls.VersionTLS12},
		{name: "service IP", serverName: "10.96.0.1", roots: b.ClientCAPool()},
		{name: "extra host", serverName: "shoal.test", roots: b.ClientCAPool()},
		{name: "unknown host", serverName: "example.com", roots: onlyCAPEM, wantErr: true},
		{name: "other CA", serverName: "127.0.0.1", roots: other.ClientCAPool(), wantErr: true},
		{name: "TLS 1.1", serverName: "127.0.0.1", roots: onlyCAPEM, maxVersion: tls.VersionTLS11, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
				ServerName: tt.serverName,
				RootCAs:    tt.roots,
				NextProtos: tt.nextProtos,
				MinVersion: tls.VersionTLS10,
				MaxVersion: tt.maxVersion,
			})
			if tt.wantErr {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if got := conn.ConnectionState().NegotiatedProtocol; got != tt.wantProto {
				t.Errorf("negotiated %q, want %q", got, tt.wantProto)
			}
		})
	}

	// A plain HTTP client that trusts only CAPEM, as kubectl with the kubeconfig does.
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: onlyCAPEM},
		ForceAttemptHTTP2: true,
	}}
	defer client.CloseIdleConnections()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost"} {
		resp, err := client.Get("https://" + net.JoinHostPort(host, port) + "/")
		if err != nil {
			t.Fatalf("GET via %s: %v", host, err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("GET via %s used %s, want HTTP/2", host, resp.Proto)
		}
	}
}

func TestParseHosts(t *testing.T) {
	tests := []struct {
		hosts   []string
		wantIPs int
		wantDNS int
	}{
		{hosts: nil, wantIPs: 3, wantDNS: 5},
		{hosts: []string{"", " ", "0.0.0.0", "::", "[::]:6443"}, wantIPs: 3, wantDNS: 5},
		{hosts: []string{"127.0.0.1:6443", "[::1]", "Localhost", "0:0::1"}, wantIPs: 3, wantDNS: 5},
		{hosts: []string{"192.168.1.10:6443", "[fd00::1]:6443", "Shoal.Example.com"}, wantIPs: 5, wantDNS: 6},
	}
	for _, tt := range tests {
		s := parseHosts(defaultHosts, tt.hosts)
		if len(s.ips) != tt.wantIPs || len(s.dns) != tt.wantDNS {
			t.Errorf("parseHosts(%q) = %v %v, want %d IPs and %d names", tt.hosts, s.ips, s.dns, tt.wantIPs, tt.wantDNS)
		}
	}
}
