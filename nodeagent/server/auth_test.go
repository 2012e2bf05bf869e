package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/nodeagent/server/servertest"
)

// clientCert makes a client certificate of the CA in dir (ca.crt,
// ca.key) for cn/org.
func clientCert(t *testing.T, dir, cn, org string) tls.Certificate {
	t.Helper()
	ca, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{org}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, key.Public(), ca.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestNodeServerRefuses: the node server serves streams and logs to the
// API server's client certificate only; /healthz and /metrics to anyone.
// The API server lets only users who may create pods/exec (attach,
// portforward) stream, whatever the method.
func TestNodeServerRefuses(t *testing.T) {
	s := clustertest.Start(t, clustertest.Options{})
	admin := s.RESTConfig(t)
	tok, err := s.Tokens.NodeToken("n1")
	if err != nil {
		t.Fatal(err)
	}
	nodeREST := rest.AnonymousClientConfig(admin)
	nodeREST.BearerToken = tok
	pods := &servertest.Static{}
	pods.Add("default", "p", "sandbox")
	logPath := filepath.Join(t.TempDir(), "c.log")
	os.WriteFile(logPath, []byte("2026-01-02T15:04:05Z stdout F hi\n"), 0o644)
	pods.AddContainer("default", "p", "c", "container", logPath)
	srv := servertest.Start(t, servertest.Options{REST: nodeREST, Node: "n1", Pods: pods})

	pkiDir := filepath.Join(s.DataDir, "pki")
	bundle, err := pki.LoadOrCreate(pkiDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	apiserverCert, err := bundle.AgentClientCert(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	other, err := pki.LoadOrCreate(otherDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, err := other.AgentClientCert(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, cert *tls.Certificate, header ...string) (int, string) {
		t.Helper()
		cfg := &tls.Config{RootCAs: bundle.ClientCAPool()}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		defer c.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+srv.Addr+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	wrongSubject := clientCert(t, pkiDir, "system:node:n1", "system:nodes")
	admins := clientCert(t, pkiDir, "admin", "system:masters")
	const logs = "/containerLogs/default/p/c"
	tests := []struct {
		name   string
		path   string
		cert   *tls.Certificate
		header []string
		code   int
		body   string
	}{
		{"the API server", logs, &apiserverCert, nil, 200, "hi\n"},
		{"no certificate", logs, nil, nil, 401, "client certificate of the cluster CA is required"},
		{"the node token", logs, nil, []string{"Authorization", "Bearer " + tok}, 401, ""},
		{"the admin token", logs, nil, []string{"Authorization", "Bearer " + admin.BearerToken}, 401, ""},
		{"another CA's API server", logs, &otherCert, nil, 401, "not a client certificate of the cluster CA"},
		{"a node's name", logs, &wrongSubject, nil, 403, `"system:node:n1" is not the API server`},
		{"system:masters", logs, &admins, nil, 403, `"admin" is not the API server`},
		{"exec without a runtime", "/exec/default/p/c?command=ls&stdout=1", &apiserverCert, nil, 501, "not supported"},
		{"exec, no certificate", "/exec/default/p/c?command=ls&stdout=1", nil, nil, 401, ""},
		{"port-forward, no certificate", "/portForward/default/p", nil, nil, 401, ""},
		{"attach, another CA", "/attach/default/p/c?stdout=1", &otherCert, nil, 401, ""},
		{"healthz", "/healthz", nil, nil, 200, "ok"},
		{"metrics", "/metrics", nil, nil, 200, "shoal_nodeagent_server_requests_total"},
		{"a pod not here", "/containerLogs/default/nope/c", &apiserverCert, nil, 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(tt.path, tt.cert, tt.header...)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("%d %q, want %d with %q", code, body, tt.code, tt.body)
			}
		})
	}

	// The API server: who may stream.
	cs := kubernetes.NewForConfigOrDie(admin)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", SchedulerName: "none", Containers: []corev1.Container{{Name: "c", Command: []string{"sh"}}}}}
	if _, err := cs.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	viewer := viewerToken(t, s.DataDir)
	apiDo := func(token, method, path string, header ...string) (int, string) {
		t.Helper()
		hc, err := rest.HTTPClientFor(rest.AnonymousClientConfig(admin))
		if err != nil {
			t.Fatal(err)
		}
		defer hc.CloseIdleConnections()
		req, _ := http.NewRequest(method, admin.Host+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const base = "/api/v1/namespaces/default/pods/p/"
	for _, sub := range []string{"exec?command=ls&stdout=true", "attach?stdout=true", "portforward?ports=80"} {
		for _, method := range []string{"GET", "POST"} {
			for who, token := range map[string]string{"viewer": viewer, "node": tok} {
				code, body := apiDo(token, method, base+sub)
				name, _, _ := strings.Cut(sub, "?")
				// kube-apiserver authorizes the method's verb first (get for
				// GET), then create for every connect: the viewer lacks
				// get on pods/exec, the node reads everything but may not
				// create.
				verb := "create"
				if method == "GET" && who == "viewer" {
					verb = "get"
				}
				if want := fmt.Sprintf(`cannot %s resource \"pods/%s\"`, verb, name); code != 403 || !strings.Contains(body, want) {
					t.Errorf("%s %s as %s: %d %s; want 403 with %s", method, sub, who, code, body, want)
				}
			}
		}
	}
	// The admin may, but a stream needs an upgrade.
	if code, body := apiDo(admin.BearerToken, "POST", base+"exec?command=ls&stdout=true"); code != 400 || !strings.Contains(body, "Upgrade request required") {
		t.Errorf("exec without an upgrade: %d %s", code, body)
	}
	for sub, want := range map[string]string{
		"exec?stdout=true":                     "you must specify at least one command",
		"exec?command=ls":                      "at least 1 of stdin, stdout, stderr",
		"exec?command=ls&stdout=true&tty=yes":  "tty: invalid value",
		"exec?command=ls&stdout=1&container=x": "container x is not valid for pod p",
		"portforward?ports=0":                  "invalid port",
	} {
		if code, body := apiDo(admin.BearerToken, "POST", base+sub); code != 400 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s; want 400 with %q", sub, code, body, want)
		}
	}
}

// viewerToken reads the viewer's token from the data dir's token file.
func viewerToken(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ","); len(f) > 1 && f[1] == "viewer" {
			return f[0]
		}
	}
	t.Fatal("no viewer token")
	return ""
}
