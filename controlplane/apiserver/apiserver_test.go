package apiserver_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// api is a running Shoal and raw HTTPS access to it, as any client has:
// the CA from the kubeconfig and a bearer token per request.
type api struct {
	t      *testing.T
	shoal  *clustertest.Shoal
	base   string
	http   *http.Client // trusts the CA, sends no credentials of its own
	admin  string
	viewer string
	cs     *kubernetes.Clientset
}

func startAPI(t *testing.T, opts clustertest.Options) *api {
	t.Helper()
	s := clustertest.Start(t, opts)
	cfg := s.RESTConfig(t)
	hc, err := rest.HTTPClientFor(rest.AnonymousClientConfig(cfg))
	if err != nil {
		t.Fatalf("http client: %v", err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return &api{
		t: t, shoal: s, base: strings.TrimSuffix(s.APIURL, "/"), http: hc,
		admin: cfg.BearerToken, viewer: tokenOf(t, filepath.Join(s.DataDir, "tokens.csv"), "viewer"),
		cs: clientset(t, cfg),
	}
}

// clientset is a client-go clientset that does not log the server's warnings.
func clientset(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// tokenOf reads user's token from a static token file.
func tokenOf(t *testing.T, path, user string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open token file: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read token file: %v", err)
	}
	for _, rec := range recs {
		if len(rec) >= 2 && rec[1] == user {
			return rec[0]
		}
	}
	t.Fatalf("no token for %q in %s", user, path)
	return ""
}

// reply is one HTTP answer, read in full.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

// do sends a request with the admin token. headers are name, value pairs.
func (a *api) do(method, path, body string, headers ...string) reply {
	a.t.Helper()
	return a.doAs(a.admin, method, path, body, headers...)
}

// doAs sends a request with token ("" for none).
func (a *api) doAs(token, method, path, body string, headers ...string) reply {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.base+path, rd)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return reply{code: resp.StatusCode, header: resp.Header, body: b}
}

// must fails the test unless the reply has code, and returns it.
func (r reply) must(t *testing.T, code int) reply {
	t.Helper()
	if r.code != code {
		t.Fatalf("code %d, want %d; body: %s", r.code, code, r.body)
	}
	return r
}

// into decodes the body into v.
func (r reply) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %T: %v; body: %s", v, err, r.body)
	}
}

// status decodes a metav1.Status and checks that it is one.
func (r reply) status(t *testing.T) metav1.Status {
	t.Helper()
	var st metav1.Status
	r.into(t, &st)
	if st.Kind != "Status" || st.APIVersion != "v1" {
		t.Fatalf("body is %s %s, want a v1 Status: %s", st.APIVersion, st.Kind, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Status Content-Type %q, want application/json", ct)
	}
	if st.Status != metav1.StatusFailure || int(st.Code) != r.code {
		t.Errorf("Status status=%q code=%d, want Failure and the HTTP code %d", st.Status, st.Code, r.code)
	}
	return st
}

// wantStatus checks an error reply: the code, the reason and that the
// message contains each of msgs.
func (r reply) wantStatus(t *testing.T, code int, reason metav1.StatusReason, msgs ...string) metav1.Status {
	t.Helper()
	if r.code != code {
		t.Fatalf("code %d, want %d; body: %s", r.code, code, r.body)
	}
	st := r.status(t)
	if st.Reason != reason {
		t.Errorf("reason %q, want %q (message %q)", st.Reason, reason, st.Message)
	}
	for _, m := range msgs {
		if !strings.Contains(st.Message, m) {
			t.Errorf("message %q does not contain %q", st.Message, m)
		}
	}
	return st
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// createNamespace creates namespace name through the API.
func (a *api) createNamespace(name string) {
	a.t.Helper()
	a.do("POST", "/api/v1/namespaces", `{"metadata":{"name":"`+name+`"}}`).must(a.t, http.StatusCreated)
}

func TestAuthentication(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	tests := []struct {
		name, token, method, path, body string
		code                            int
		reason                          metav1.StatusReason
		msg                             string
	}{
		{name: "no token", method: "GET", path: "/api/v1/namespaces/default/services",
			code: 401, reason: metav1.StatusReasonUnauthorized, msg: "Unauthorized"},
		{name: "wrong token", token: "not-a-token", method: "GET", path: "/api/v1/namespaces/default/services",
			code: 401, reason: metav1.StatusReasonUnauthorized, msg: "Unauthorized"},
		{name: "no token on discovery", method: "GET", path: "/api",
			code: 401, reason: metav1.StatusReasonUnauthorized, msg: "Unauthorized"},
		{name: "no token on metrics", method: "GET", path: "/metrics",
			code: 401, reason: metav1.StatusReasonUnauthorized, msg: "Unauthorized"},
		{name: "viewer lists", token: a.viewer, method: "GET", path: "/api/v1/namespaces/default/services", code: 200},
		{name: "viewer gets", token: a.viewer, method: "GET", path: "/api/v1/namespaces/default/services/kubernetes", code: 200},
		{name: "viewer discovers", token: a.viewer, method: "GET", path: "/apis", code: 200},
		{name: "viewer creates", token: a.viewer, method: "POST", path: "/api/v1/namespaces/default/services",
			body: `{"metadata":{"name":"v"},"spec":{"ports":[{"port":80}]}}`,
			code: 403, reason: metav1.StatusReasonForbidden,
			msg: `services is forbidden: User "viewer" cannot create resource "services" in API group "" in the namespace "default"`},
		{name: "viewer deletes", token: a.viewer, method: "DELETE", path: "/api/v1/namespaces/default/services/kubernetes",
			code: 403, reason: metav1.StatusReasonForbidden,
			msg: `User "viewer" cannot delete resource "services"`},
		{name: "viewer scales", token: a.viewer, method: "PATCH", path: "/apis/apps/v1/namespaces/default/deployments/x/scale",
			body: `{"spec":{"replicas":2}}`, code: 403, reason: metav1.StatusReasonForbidden,
			msg: `User "viewer" cannot patch resource "deployments/scale" in API group "apps"`},
		{name: "viewer reads metrics", token: a.viewer, method: "GET", path: "/metrics",
			code: 403, reason: metav1.StatusReasonForbidden, msg: `User "viewer"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{"Content-Type", "application/merge-patch+json"}
			if tc.method != "PATCH" {
				hdr = nil
			}
			r := a.doAs(tc.token, tc.method, tc.path, tc.body, hdr...)
			if tc.code < 400 {
				r.must(t, tc.code)
				return
			}
			r.wantStatus(t, tc.code, tc.reason, tc.msg)
		})
	}
	// Nothing the viewer tried was stored.
	a.do("GET", "/api/v1/namespaces/default/services/v", "").wantStatus(t, 404, metav1.StatusReasonNotFound, `services "v" not found`)
}

func TestPublicEndpointsAndMetrics(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	for _, path := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		r := a.doAs("", "GET", path, "").must(t, 200)
		if path == "/version" {
			var v struct{ Major, Minor, GitVersion string }
			r.into(t, &v)
			if v.Major == "" || v.Minor == "" || v.GitVersion == "" {
				t.Errorf("/version = %s, want major, minor and gitVersion", r.body)
			}
		}
	}
	a.do("GET", "/api/v1/namespaces/default/services", "").must(t, 200)
	a.doAs("", "GET", "/api/v1/namespaces/default/services", "").must(t, 401)
	r := a.do("GET", "/metrics", "").must(t, 200)
	for _, want := range []string{
		`shoal_apiserver_requests_total{code="200",resource="services",verb="list"}`,
		`shoal_apiserver_requests_total{code="401",resource="services",verb="list"}`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The controllers' metrics are on the same endpoint.
	want := `shoal_controllers_reconciles_total{controller="endpointslice",result="success"}`
	testenv.Eventually(t, 10*time.Second, "controller metrics", func() error {
		if r := a.do("GET", "/metrics", "").must(t, 200); !bytes.Contains(r.body, []byte(want)) {
			return fmt.Errorf("/metrics lacks %s", want)
		}
		return nil
	})
}

// retry runs f until it succeeds or ctx ends, for writes while etcd restarts.
func retry(ctx context.Context, t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	var err error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = f(cctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
