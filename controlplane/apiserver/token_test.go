package apiserver_test

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/serviceaccount"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// whoami asks the API who token is: the user, or the HTTP code of a refusal.
func (a *api) whoami(token string) (authnv1.UserInfo, int) {
	a.t.Helper()
	r := a.doAs(token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	if r.code != http.StatusCreated {
		return authnv1.UserInfo{}, r.code
	}
	var rev authnv1.SelfSubjectReview
	r.into(a.t, &rev)
	return rev.Status.UserInfo, r.code
}

// signWith signs claims with the cluster's own service account key, so a
// test can make tokens the API server would never issue (already expired).
func signWith(t *testing.T, keyFile string, claims ...any) string {
	t.Helper()
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key.(crypto.Signer)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := jwt.Signed(signer)
	for _, c := range claims {
		b = b.Claims(c)
	}
	tok, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestServiceAccountTokens issues tokens through serviceaccounts/token and
// uses them: they authenticate as the account until it, or the pod they
// are bound to, is gone; a token for another audience, an expired one and
// one signed by another key are 401s.
func TestServiceAccountTokens(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("ci")
	ctx := t.Context()
	sas := a.cs.CoreV1().ServiceAccounts("ci")
	sa, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(spec authnv1.TokenRequestSpec) string {
		t.Helper()
		tr, err := sas.CreateToken(ctx, "builder", &authnv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		return tr.Status.Token
	}
	before := time.Now()
	tr, err := sas.CreateToken(ctx, "builder", &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if exp := tr.Status.ExpirationTimestamp.Sub(before); exp < 59*time.Minute || exp > 61*time.Minute ||
		*tr.Spec.ExpirationSeconds != 3600 || !slices.Equal(tr.Spec.Audiences, []string{serviceaccount.DefaultIssuer}) || tr.UID != sa.UID {
		t.Errorf("token request %+v (expires in %v)", tr, tr.Status.ExpirationTimestamp.Sub(before))
	}
	tok := tr.Status.Token

	testenv.Eventually(t, 10*time.Second, "the token authenticates", func() error {
		if _, code := a.whoami(tok); code != http.StatusCreated {
			return apierrors.NewUnauthorized("whoami")
		}
		return nil
	})
	u, _ := a.whoami(tok)
	if u.Username != "system:serviceaccount:ci:builder" || u.UID != string(sa.UID) ||
		!slices.Equal(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"}) {
		t.Errorf("whoami %+v", u)
	}
	// Until RBAC lands, an account may do what any authenticated user may:
	// discovery, and nothing with resources.
	a.doAs(tok, "GET", "/api/v1", "").must(t, http.StatusOK)
	a.doAs(tok, "GET", "/api/v1/namespaces/ci/pods", "").wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden,
		`pods is forbidden: User "system:serviceaccount:ci:builder" cannot list resource "pods" in API group "" in the namespace "ci"`)
	a.doAs(tok, "POST", "/api/v1/namespaces/ci/serviceaccounts/builder/token", `{}`).must(t, http.StatusForbidden)

	// Refused tokens: 401, the same answer whatever the reason.
	keyFile := filepath.Join(a.shoal.DataDir, "pki", "sa.key")
	now := time.Now()
	private := map[string]any{"kubernetes.io": map[string]any{"namespace": "ci", "serviceaccount": map[string]any{"name": "builder", "uid": string(sa.UID)}}}
	expired := signWith(t, keyFile, jwt.Claims{Issuer: serviceaccount.DefaultIssuer, Subject: "system:serviceaccount:ci:builder",
		Audience: jwt.Audience{serviceaccount.DefaultIssuer}, IssuedAt: jwt.NewNumericDate(now.Add(-2 * time.Hour)),
		NotBefore: jwt.NewNumericDate(now.Add(-2 * time.Hour)), Expiry: jwt.NewNumericDate(now.Add(-time.Hour))}, private)
	otherKeys, err := serviceaccount.LoadOrCreateKeys(filepath.Join(t.TempDir(), "other.key"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer, _ := serviceaccount.NewIssuer(otherKeys, serviceaccount.DefaultIssuer)
	forged, err := otherIssuer.Issue(serviceaccount.Request{ServiceAccount: sa, Audiences: []string{serviceaccount.DefaultIssuer}, ExpirationSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"wrong audience": issue(authnv1.TokenRequestSpec{Audiences: []string{"vault"}}),
		"expired":        expired,
		"forged":         forged,
		"truncated":      tok[:len(tok)-4],
	} {
		st := a.doAs(bad, "GET", "/api/v1", "").wantStatus(t, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
		if strings.Contains(st.Message, "audience") || strings.Contains(st.Message, "expired") || strings.Contains(st.Message, "signature") {
			t.Errorf("%s: the 401 says why: %q", name, st.Message)
		}
	}
	var metrics string
	testenv.Eventually(t, 5*time.Second, "token metrics", func() error {
		metrics = string(a.do("GET", "/metrics", "").must(t, http.StatusOK).body)
		if !strings.Contains(metrics, `shoal_serviceaccount_token_authentications_total{result="wrong_audience"} 1`) {
			return apierrors.NewNotFound(metav1.SchemeGroupVersion.WithResource("metrics").GroupResource(), "wrong_audience")
		}
		return nil
	})
	for _, m := range []string{`result="expired"} 1`, `result="bad_signature"} 2`, `shoal_serviceaccount_tokens_issued_total{result="success"}`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}

	// Bad requests.
	a.do("POST", "/api/v1/namespaces/ci/serviceaccounts/builder/token", `{"spec":{"expirationSeconds":60}}`).
		wantStatus(t, 422, metav1.StatusReasonInvalid, "spec.expirationSeconds", "may not specify a duration less than 10 minutes")
	a.do("POST", "/api/v1/namespaces/ci/serviceaccounts/ghost/token", `{}`).
		wantStatus(t, 404, metav1.StatusReasonNotFound, `serviceaccounts "ghost" not found`)
	a.do("POST", "/api/v1/namespaces/ci/serviceaccounts/builder/token", `{"spec":{"boundObjectRef":{"kind":"ConfigMap","apiVersion":"v1","name":"x"}}}`).
		wantStatus(t, 400, metav1.StatusReasonBadRequest, "cannot bind token to object of type /v1, Kind=ConfigMap")

	// A pod-bound token works while its pod exists.
	pod, err := a.cs.CoreV1().Pods("ci").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job"},
		Spec: corev1.PodSpec{ServiceAccountName: "builder", Containers: []corev1.Container{{Name: "c", Command: []string{"/bin/sleep", "1"}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bound := issue(authnv1.TokenRequestSpec{BoundObjectRef: &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "job", UID: pod.UID}})
	if c := claimsOf(t, bound); !strings.Contains(c, `"pod":{"name":"job","uid":"`+string(pod.UID)+`"}`) {
		t.Errorf("bound claims %s", c)
	}
	if _, code := a.whoami(bound); code != http.StatusCreated {
		t.Fatalf("pod-bound token: %d", code)
	}
	a.do("POST", "/api/v1/namespaces/ci/serviceaccounts/default/token", `{"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"job"}}}`).
		wantStatus(t, 400, metav1.StatusReasonBadRequest, `cannot bind token for serviceaccount "default" to pod running with different serviceaccount name.`)
	// The kubelet's 3607-second request is extended to a year.
	kubelet := issue(authnv1.TokenRequestSpec{ExpirationSeconds: new(int64(3607)), BoundObjectRef: &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "job"}})
	if c := claimsOf(t, kubelet); !strings.Contains(c, `"warnafter":`) {
		t.Errorf("kubelet token claims %s", c)
	}
	if err := a.cs.CoreV1().Pods("ci").Delete(ctx, "job", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the pod-bound token refused", func() error {
		if _, code := a.whoami(bound); code != http.StatusUnauthorized {
			return apierrors.NewBadRequest("still accepted")
		}
		return nil
	})
	if _, code := a.whoami(tok); code != http.StatusCreated {
		t.Errorf("the unbound token stopped working with the pod: %d", code)
	}

	// Deleting the account ends its tokens.
	if err := sas.Delete(ctx, "builder", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the token of a deleted account refused", func() error {
		if _, code := a.whoami(tok); code != http.StatusUnauthorized {
			return apierrors.NewBadRequest("still accepted")
		}
		return nil
	})
}

// claimsOf is a token's payload, undecoded JSON.
func claimsOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&m); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, m)
}

// A node may have tokens only bound to pods bound to it, for its pods'
// projected service account tokens.
func TestNodeTokensForItsPods(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("ci")
	ctx := t.Context()
	if _, err := a.cs.CoreV1().ServiceAccounts("ci").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for pod, node := range map[string]string{"mine": "node-1", "theirs": "node-2"} {
		if _, err := a.cs.CoreV1().Pods("ci").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod},
			Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: "builder", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := a.shoal.Tokens.NodeToken("node-1")
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/namespaces/ci/serviceaccounts/builder/token"
	bound := func(pod string) string {
		return `{"spec":{"expirationSeconds":3607,"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"` + pod + `"}}}`
	}
	var tr authnv1.TokenRequest
	a.doAs(tok, "POST", path, bound("mine")).must(t, http.StatusCreated).into(t, &tr)
	if u, code := a.whoami(tr.Status.Token); code != http.StatusCreated || u.Username != "system:serviceaccount:ci:builder" {
		t.Errorf("the node's token for its pod: %d %+v", code, u)
	}
	a.doAs(tok, "POST", path, bound("theirs")).wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden,
		`node "node-1" can only create tokens bound to pods bound to it; pod theirs is bound to "node-2"`)
	a.doAs(tok, "POST", path, `{}`).wantStatus(t, http.StatusForbidden, metav1.StatusReasonForbidden,
		`node "node-1" can only create tokens bound to a pod`)
	a.doAs(tok, "POST", "/api/v1/namespaces/ci/serviceaccounts", `{"metadata":{"name":"x"}}`).must(t, http.StatusForbidden)
}
