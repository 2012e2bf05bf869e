package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/api"
)

func TestAgentClientCert(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name        string
		prepare     func(t *testing.T, dir string)
		later       time.Duration
		wantReissue bool
	}{
		{name: "unchanged"},
		{name: "10 months later", later: 300 * 24 * time.Hour},
		{name: "11 months later", later: 335 * 24 * time.Hour, wantReissue: true},
		{name: "key lost", prepare: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, AgentClientKeyFile)) }, wantReissue: true},
		{name: "another subject", wantReissue: true, prepare: func(t *testing.T, dir string) {
			// The serving certificate in its place: right CA, wrong subject.
			os.WriteFile(filepath.Join(dir, AgentClientCertFile), readFile(t, dir, ServingCertFile), 0o644)
			os.WriteFile(filepath.Join(dir, AgentClientKeyFile), readFile(t, dir, ServingKeyFile), 0o600)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			b := mustLoad(t, dir, nil, now)
			first, err := b.agentClientCert(dir, now)
			if err != nil {
				t.Fatal(err)
			}
			leaf := first.Leaf
			if leaf.Subject.CommonName != api.AgentClientCommonName || !slices.Equal(leaf.Subject.Organization, []string{api.AgentClientOrganization}) {
				t.Errorf("subject %v", leaf.Subject)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.ClientCAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: now}); err != nil {
				t.Errorf("not a client certificate of the CA: %v", err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.ClientCAPool(), CurrentTime: now}); err == nil {
				t.Error("the client certificate verifies as a server certificate")
			}
			if fi, err := os.Stat(filepath.Join(dir, AgentClientKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key file: %v, %v", fi, err)
			}
			firstPEM := readFile(t, dir, AgentClientCertFile)
			if tt.prepare != nil {
				tt.prepare(t, dir)
			}
			second, err := b.agentClientCert(dir, now.Add(tt.later))
			if err != nil {
				t.Fatal(err)
			}
			reissued := !bytes.Equal(firstPEM, readFile(t, dir, AgentClientCertFile))
			if reissued != tt.wantReissue {
				t.Errorf("re-issued = %v, want %v", reissued, tt.wantReissue)
			}
			if second.Leaf.Subject.CommonName != api.AgentClientCommonName {
				t.Errorf("second subject %v", second.Leaf.Subject)
			}
		})
	}
}

func TestSignNodeServing(t *testing.T) {
	b := mustLoad(t, t.TempDir(), nil, time.Now())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ip := net.ParseIP("10.77.0.5")
	certPEM, err := b.SignNodeServing(key.Public(), "n1", []net.IP{ip}, []string{"n1"})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", certPEM)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "system:node:n1" || !slices.Equal(leaf.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("subject %v", leaf.Subject)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.ClientCAPool(), DNSName: "10.77.0.5"}); err != nil {
		t.Errorf("does not serve 10.77.0.5: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.ClientCAPool(), DNSName: "127.0.0.1"}); err == nil {
		t.Error("serves 127.0.0.1, which it was not signed for")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.ClientCAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("a node's serving certificate verifies as a client certificate")
	}
	if leaf.IsCA {
		t.Error("signed a CA")
	}
	if _, err := b.SignNodeServing(key.Public(), "n1", nil, nil); err == nil {
		t.Error("signed a certificate without names")
	}
	if _, err := b.SignNodeServing(key.Public(), "", []net.IP{ip}, nil); err == nil {
		t.Error("signed a certificate without a node")
	}
}
