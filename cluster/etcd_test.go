package cluster_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/dns/resolver/resolvertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// TestEmbeddedEtcdRequiresClientCertificates: the embedded etcd answers
// only clients presenting a certificate from its etcd CA — not plaintext
// clients, not TLS clients without a certificate, not one the cluster CA
// signed — on its client port and on its peer port.
func TestEmbeddedEtcdRequiresClientCertificates(t *testing.T) {
	s := clustertest.Start(t, clustertest.Options{Name: "s1", IP: "127.0.0.2"})
	f := s.EtcdFiles
	good, err := pki.ClientTLS(f.CA, f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	noCert, err := pki.CATLS(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(s.DataDir, "pki")
	clusterCASigned, err := pki.ClientTLS(f.CA, filepath.Join(pkiDir, pki.ServingCertFile), filepath.Join(pkiDir, pki.ServingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(s.Endpoints[0], "https://")
	for _, tt := range []struct {
		name     string
		endpoint string
		tls      *tls.Config
		wantOK   bool
	}{
		{"etcd client certificate", "https://" + host, good, true},
		{"plaintext", "http://" + host, nil, false},
		{"TLS without a certificate", "https://" + host, noCert, false},
		{"certificate from the cluster CA", "https://" + host, clusterCASigned, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := clientv3.New(clientv3.Config{Endpoints: []string{tt.endpoint}, TLS: tt.tls, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			_, err = c.Get(ctx, "/registry/namespaces/default")
			if (err == nil) != tt.wantOK {
				t.Fatalf("get: err = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
	// etcd's HTTP endpoints (health, metrics) on the same port, and the
	// peer port, refuse a client without a certificate too.
	for _, addr := range []string{host, s.Addrs.EtcdPeer} {
		hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: noCert}}
		resp, err := hc.Get("https://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET https://%s/health without a certificate: %s", addr, resp.Status)
		}
		resp, err = http.Get("http://" + addr + "/health")
		if err == nil && resp.StatusCode == http.StatusOK {
			t.Errorf("GET http://%s/health in plaintext: %s", addr, resp.Status)
		}
		if err == nil {
			resp.Body.Close()
		}
	}
}

// TestDNSWithEtcdClientCertificate: a resolver on its own (`shoal dns`)
// reads the embedded etcd with the etcd client certificate named in its
// cluster block's tls line.
func TestDNSWithEtcdClientCertificate(t *testing.T) {
	s := clustertest.Start(t, clustertest.Options{Name: "s1", IP: "127.0.0.2"})
	f := s.EtcdFiles
	addr := testenv.FreeAddr(t)
	corefile := fmt.Sprintf(`cluster.local:%s {
    bind 127.0.0.1
    cluster {
        endpoint %s
        tls %s %s %s
    }
}
`, strings.Split(addr, ":")[1], s.Endpoints[0], f.ClientCert, f.ClientKey, f.CA)
	resolvertest.Start(t, corefile)
	testenv.Eventually(t, 10*time.Second, "kubernetes.default answered", func() error {
		r, err := resolvertest.Ask("udp", addr, resolvertest.Query("kubernetes.default.svc.cluster.local", dns.TypeA))
		if err != nil {
			return err
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.96.0.1" {
			return fmt.Errorf("answer %v", r.Answer)
		}
		return nil
	})
}

// TestControlPlaneOnTLSEtcd: `shoal controlplane` on an etcd that asks for
// client certificates (here a server's embedded one) works with
// --etcd-cafile, --etcd-certfile and --etcd-keyfile, and says what is
// missing without them.
func TestControlPlaneOnTLSEtcd(t *testing.T) {
	s := clustertest.Start(t, clustertest.Options{Name: "s1", IP: "127.0.0.2"})
	f := s.EtcdFiles
	withTLS := func(c *cluster.Config) { c.EtcdCAFile, c.EtcdCertFile, c.EtcdKeyFile = f.CA, f.ClientCert, f.ClientKey }
	dir := t.TempDir()
	clustertest.CopyCredentials(t, s.DataDir, dir)
	cp := clustertest.StartControlPlane(t, clustertest.Options{EtcdServers: s.Endpoints, DataDir: dir, IP: "127.0.0.3", Config: withTLS})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "via-controlplane"}}
	if _, err := cp.Clientset(t).CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clientset(t).CoreV1().ConfigMaps("default").Get(t.Context(), "via-controlplane", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	for name, tt := range map[string]struct {
		set  func(*cluster.Config)
		want string
	}{
		"no TLS flags":      {func(*cluster.Config) {}, "--etcd-cafile"},
		"certificate alone": {func(c *cluster.Config) { c.EtcdCertFile = f.ClientCert }, "--etcd-certfile and --etcd-keyfile go together"},
		"no CA":             {func(c *cluster.Config) { c.EtcdCertFile, c.EtcdKeyFile = f.ClientCert, f.ClientKey }, "needs --etcd-cafile"},
	} {
		_, err := clustertest.TryStartControlPlane(t, clustertest.Options{EtcdServers: s.Endpoints, DataDir: t.TempDir(), IP: "127.0.0.3", Config: tt.set})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error that says %q", name, err, tt.want)
		}
	}
}
