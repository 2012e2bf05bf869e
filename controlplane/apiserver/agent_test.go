package apiserver_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	shoalapi "github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/nodeagent/server/servertest"
)

// nodeREST is a client configuration of the API server with node's token.
func (a *api) nodeREST(node string) *rest.Config {
	a.t.Helper()
	tok, err := a.shoal.Tokens.NodeToken(node)
	if err != nil {
		a.t.Fatal(err)
	}
	rc := rest.AnonymousClientConfig(a.shoal.RESTConfig(a.t))
	rc.BearerToken = tok
	return rc
}

// writeCRILog writes lines as containerd writes a container's log.
func writeCRILog(t *testing.T, lines ...string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "2026-01-02T15:04:05.000000000Z stdout F %s\n", l)
	}
	path := filepath.Join(t.TempDir(), "c.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPodLogProxy: pods/log reaches the node server of the pod's node
// (the real one, over mutual TLS, with a certificate the API server signed
// for the node) and passes the query on.
func TestPodLogProxy(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	pods := &servertest.Static{}
	pods.Add("default", "web", "sandbox-1")
	pods.AddContainer("default", "web", "c", "container-1", writeCRILog(t, "line 1", "line 2", "line 3"))
	servertest.Start(t, servertest.Options{REST: a.nodeREST("node-1"), Node: "node-1", Pods: pods})
	a.bindPod("web", "node-1", 0)

	for query, want := range map[string]string{
		"":                         "line 1\nline 2\nline 3\n",
		"?tailLines=2":             "line 2\nline 3\n",
		"?limitBytes=8":            "line 1\nl",
		"?container=c&tailLines=1": "line 3\n",
	} {
		r := a.do("GET", "/api/v1/namespaces/default/pods/web/log"+query, "").must(t, http.StatusOK)
		if string(r.body) != want {
			t.Errorf("log%s: %q, want %q", query, r.body, want)
		}
	}
	a.do("GET", "/api/v1/namespaces/default/pods/web/log?tailLines=-1", "").
		wantStatus(t, http.StatusBadRequest, metav1.StatusReasonBadRequest, "tailLines")
	a.do("GET", "/api/v1/namespaces/default/pods/web/log?previous=true", "").
		wantStatus(t, http.StatusNotFound, metav1.StatusReasonNotFound, "not found")
	a.do("GET", "/api/v1/namespaces/default/pods/web/log?container=nope", "").
		wantStatus(t, http.StatusBadRequest, metav1.StatusReasonBadRequest, "container nope is not valid for pod web")
	a.do("POST", "/api/v1/namespaces/default/pods", `{"metadata":{"name":"pending"},"spec":{"schedulerName":"none","containers":[{"name":"c","command":["/bin/true"]}]}}`).must(t, http.StatusCreated)
	a.do("GET", "/api/v1/namespaces/default/pods/pending/log", "").
		wantStatus(t, http.StatusBadRequest, metav1.StatusReasonBadRequest, "does not have a host assigned")
	// A viewer may read logs.
	a.doAs(a.viewer, "GET", "/api/v1/namespaces/default/pods/web/log", "").must(t, http.StatusOK)
}

// TestAgentIdentity: the API server streams only to the certificate of the
// pod's node. A node whose Node names another node's address and port is
// not believed: its certificate names it, not the other.
func TestAgentIdentity(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	pods := &servertest.Static{}
	pods.Add("default", "web", "sandbox-1")
	pods.AddContainer("default", "web", "c", "container-1", writeCRILog(t, "secret"))
	srv := servertest.Start(t, servertest.Options{REST: a.nodeREST("node-1"), Node: "node-1", Pods: pods})
	_, port, _ := net.SplitHostPort(srv.Addr)
	var p int
	fmt.Sscan(port, &p)
	// node-2 says it is at node-1's address: the pod bound to node-2 is
	// not served from node-1's agent.
	if err := servertest.Register(t.Context(), a.nodeREST("node-2"), "node-2", "127.0.0.1", p); err != nil {
		t.Fatal(err)
	}
	a.bindPod("web", "node-2", 0)
	a.do("GET", "/api/v1/namespaces/default/pods/web/log", "").
		wantStatus(t, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, `showed the certificate of "system:node:node-1", not of system:node:node-2`)
}

// TestNodeServingCertificate: a node gets a serving certificate for its
// own names only.
func TestNodeServingCertificate(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	tok1 := a.nodeREST("node-1").BearerToken
	if err := servertest.Register(t.Context(), a.nodeREST("node-1"), "node-1", "10.9.0.1", 10250); err != nil {
		t.Fatal(err)
	}
	csr := func(cn, org string, dns []string, ips ...string) string {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: []string{org}}, DNSNames: dns}
		for _, ip := range ips {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(shoalapi.NodeCertificateRequest{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
		return string(b)
	}
	const path = shoalapi.NodeServingCertificatePath
	r := a.doAs(tok1, "POST", path, csr("system:node:node-1", "system:nodes", []string{"node-1"}, "10.9.0.1")).must(t, http.StatusOK)
	var got shoalapi.NodeCertificate
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(got.Certificate))
	if block == nil {
		t.Fatalf("no certificate in %s", r.body)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(got.CA))
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.9.0.1"}); err != nil {
		t.Errorf("the signed certificate does not serve 10.9.0.1: %v", err)
	}
	if ca, _ := os.ReadFile(filepath.Join(a.shoal.DataDir, "pki", "ca.crt")); !bytes.Equal(ca, []byte(got.CA)) {
		t.Error("the answer's CA is not the cluster CA")
	}

	good := csr("system:node:node-1", "system:nodes", []string{"node-1"}, "10.9.0.1")
	tests := []struct {
		name   string
		token  string
		method string
		body   string
		code   int
		reason metav1.StatusReason
		msg    string
	}{
		{"admin is no node", a.admin, "POST", good, 403, metav1.StatusReasonForbidden, `user "admin" is not a node`},
		{"no token", "", "POST", good, 401, metav1.StatusReasonUnauthorized, ""},
		{"another node's subject", tok1, "POST", csr("system:node:node-2", "system:nodes", nil, "10.9.0.1"), 403, metav1.StatusReasonForbidden, "subject must be CN=system:node:node-1"},
		{"masters", tok1, "POST", csr("system:node:node-1", "system:masters", nil, "10.9.0.1"), 403, metav1.StatusReasonForbidden, "O=system:nodes"},
		{"an address not the node's", tok1, "POST", csr("system:node:node-1", "system:nodes", nil, "127.0.0.1"), 403, metav1.StatusReasonForbidden, "127.0.0.1 is not an address of node node-1"},
		{"a name not the node's", tok1, "POST", csr("system:node:node-1", "system:nodes", []string{"kubernetes.default"}), 403, metav1.StatusReasonForbidden, `"kubernetes.default" is not a name of node node-1`},
		{"not a CSR", tok1, "POST", `{"csr":"hello"}`, 400, metav1.StatusReasonBadRequest, "CERTIFICATE REQUEST"},
		{"not JSON", tok1, "POST", `csr`, 400, metav1.StatusReasonBadRequest, "NodeCertificateRequest"},
		{"GET", tok1, "GET", "", 405, metav1.StatusReasonMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.doAs(tt.token, tt.method, path, tt.body)
			if tt.msg == "" {
				if r.code != tt.code {
					t.Errorf("%d %s, want %d", r.code, r.body, tt.code)
				}
				return
			}
			r.wantStatus(t, tt.code, tt.reason, tt.msg)
		})
	}
	// A node that is not registered yet gets nothing.
	a.doAs(a.nodeREST("node-3").BearerToken, "POST", path, csr("system:node:node-3", "system:nodes", []string{"node-3"})).
		wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden, "node node-3 is not registered")
}
