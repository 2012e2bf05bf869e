package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestLoadOrCreateEtcd(t *testing.T) {
	dir := t.TempDir()
	cluster := mustLoad(t, dir, nil, time.Now())
	files, err := LoadOrCreateEtcd(dir, []string{"10.0.0.5:2380"})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(caPEM, cluster.CAPEM) {
		t.Fatal("the etcd CA is the cluster CA")
	}
	ca := parseCert(t, caPEM)
	for _, tt := range []struct {
		cert, key string
		usages    []x509.ExtKeyUsage
		ips       []string
	}{
		{files.ServerCert, files.ServerKey, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []string{"127.0.0.1", "::1", "10.0.0.5"}},
		{files.PeerCert, files.PeerKey, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, []string{"127.0.0.1", "10.0.0.5"}},
		{files.ClientCert, files.ClientKey, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil},
	} {
		pair, err := tls.LoadX509KeyPair(tt.cert, tt.key)
		if err != nil {
			t.Fatalf("%s: %v", tt.cert, err)
		}
		if err := pair.Leaf.CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s is not signed by the etcd CA: %v", tt.cert, err)
		}
		if !slices.Equal(pair.Leaf.ExtKeyUsage, tt.usages) {
			t.Errorf("%s usages %v, want %v", tt.cert, pair.Leaf.ExtKeyUsage, tt.usages)
		}
		for _, ip := range tt.ips {
			if !slices.ContainsFunc(pair.Leaf.IPAddresses, net.ParseIP(ip).Equal) {
				t.Errorf("%s does not name %s: %v", tt.cert, ip, pair.Leaf.IPAddresses)
			}
		}
		if fi, err := os.Stat(tt.key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", tt.key, fi.Mode().Perm(), err)
		}
	}

	// The same hosts again: nothing is issued anew; a new host re-issues
	// the member's certificates from the same CA.
	server, client := readFile(t, filepath.Dir(files.CA), EtcdServerCertFile), readFile(t, filepath.Dir(files.CA), EtcdClientCertFile)
	if _, err := LoadOrCreateEtcd(dir, []string{"10.0.0.5"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(server, readFile(t, filepath.Dir(files.CA), EtcdServerCertFile)) {
		t.Error("the server certificate was issued again for the same hosts")
	}
	if _, err := LoadOrCreateEtcd(dir, []string{"10.0.0.6"}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(server, readFile(t, filepath.Dir(files.CA), EtcdServerCertFile)) {
		t.Error("the server certificate was not issued again for a new host")
	}
	if !bytes.Equal(client, readFile(t, filepath.Dir(files.CA), EtcdClientCertFile)) {
		t.Error("the client certificate changed though it names no host")
	}
	if !bytes.Equal(caPEM, readFile(t, filepath.Dir(files.CA), CACertFile)) {
		t.Error("the etcd CA changed")
	}
}

// A server requiring etcd client certificates accepts the etcd client
// certificate and refuses one the cluster CA signed.
func TestEtcdClientTLS(t *testing.T) {
	dir := t.TempDir()
	mustLoad(t, dir, nil, time.Now())
	files, err := LoadOrCreateEtcd(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	serverPair, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(t, filepath.Dir(files.CA), CACertFile))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverPair},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	good, err := ClientTLS(files.CA, files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	// The API server's serving pair, signed by the cluster CA.
	wrong, err := ClientTLS(files.CA, filepath.Join(dir, ServingCertFile), filepath.Join(dir, ServingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		cfg    *tls.Config
		wantOK bool
	}{
		"etcd client certificate":  {good, true},
		"cluster CA's certificate": {wrong, false},
		"no certificate":           {&tls.Config{RootCAs: good.RootCAs}, false},
	} {
		c, err := tls.Dial("tcp", ln.Addr().String(), tt.cfg)
		if err == nil {
			// TLS 1.3: the server's verdict arrives with the first read.
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if (err == nil) != tt.wantOK {
			t.Errorf("%s: err = %v, want ok=%v", name, err, tt.wantOK)
		}
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
