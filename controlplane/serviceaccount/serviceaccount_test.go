package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// objects is an in-memory Objects: kind/namespace/name → object.
type objects map[string]metav1.Object

func (o objects) Object(_ context.Context, kind, namespace, name string) (metav1.Object, error) {
	return o[kind+"/"+namespace+"/"+name], nil
}

func (o objects) add(kind string, obj metav1.Object) {
	o[kind+"/"+obj.GetNamespace()+"/"+obj.GetName()] = obj
}

func newKeys(t *testing.T) *Keys {
	t.Helper()
	k, err := LoadOrCreateKeys(filepath.Join(t.TempDir(), "pki", "sa.key"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pki", "sa.key")
	if _, err := LoadOrCreateKeys(path, false, nil); err == nil {
		t.Fatal("loaded a key file that does not exist")
	}
	k1, err := LoadOrCreateKeys(path, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	k2, err := LoadOrCreateKeys(path, true, nil)
	if err != nil || k2.SigningKeyID() != k1.SigningKeyID() || k1.alg != "ES256" {
		t.Fatalf("reloaded %v %s (%s), want the same ES256 key %s", err, k2.SigningKeyID(), k1.alg, k1.SigningKeyID())
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rk, err := LoadOrCreateKeys(writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), false, nil)
	if err != nil || rk.alg != "RS256" {
		t.Fatalf("RSA key: %v %s", err, rk.alg)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384der, _ := x509.MarshalPKCS8PrivateKey(p384)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for name, file := range map[string]string{
		"short RSA":  writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)),
		"P-384":      writePEM(t, "PRIVATE KEY", p384der),
		"public key": writePEM(t, "PUBLIC KEY", pubDER),
		"not PEM":    filepath.Join(t.TempDir(), "missing"),
	} {
		if _, err := LoadOrCreateKeys(file, false, nil); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	// An extra public key is accepted for verification.
	withOld, err := LoadOrCreateKeys(path, false, []string{writePEM(t, "PUBLIC KEY", pubDER)})
	if err != nil || len(withOld.verify) != 2 {
		t.Fatalf("with an extra public key: %v, %d keys", err, len(withOld.verify))
	}
}

type fixture struct {
	keys    *Keys
	issuer  *Issuer
	authn   *Authenticator
	objects objects
	sa      *corev1.ServiceAccount
	pod     *corev1.Pod
	now     time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{keys: newKeys(t), objects: objects{}, now: time.Unix(1_800_000_000, 0)}
	var err error
	if f.issuer, err = NewIssuer(f.keys, DefaultIssuer); err != nil {
		t.Fatal(err)
	}
	f.issuer.now = func() time.Time { return f.now }
	f.authn = NewAuthenticator(f.keys, DefaultIssuer, nil, f.objects, nil)
	f.authn.now = func() time.Time { return f.now }
	f.sa = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "builder", UID: "sa-uid"}}
	f.pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "pod-uid"}}
	f.objects.add("ServiceAccount", f.sa)
	f.objects.add("Pod", f.pod)
	return f
}

func (f *fixture) issue(t *testing.T, req Request) string {
	t.Helper()
	if req.ServiceAccount == nil {
		req.ServiceAccount = f.sa
	}
	if req.ExpirationSeconds == 0 {
		req.ExpirationSeconds = DefaultExpirationSeconds
	}
	if req.Audiences == nil {
		req.Audiences = []string{DefaultIssuer}
	}
	tok, err := f.issuer.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claimsOf decodes a token's payload without checking it.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClaims(t *testing.T) {
	f := newFixture(t)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}
	tok := f.issue(t, Request{Pod: f.pod, Node: node, Audiences: []string{"vault", "https://kubernetes.default.svc.cluster.local"}, ExpirationSeconds: 600})
	c := claimsOf(t, tok)
	want := map[string]any{
		"iss": DefaultIssuer, "sub": "system:serviceaccount:shop:builder",
		"aud": []any{"vault", DefaultIssuer},
		"iat": float64(1_800_000_000), "nbf": float64(1_800_000_000), "exp": float64(1_800_000_600),
		"kubernetes.io": map[string]any{
			"namespace":      "shop",
			"serviceaccount": map[string]any{"name": "builder", "uid": "sa-uid"},
			"pod":            map[string]any{"name": "web-1", "uid": "pod-uid"},
			"node":           map[string]any{"name": "n1", "uid": "node-uid"},
		},
	}
	for k, v := range want {
		got, _ := json.Marshal(c[k])
		w, _ := json.Marshal(v)
		if string(got) != string(w) {
			t.Errorf("claim %s = %s, want %s", k, got, w)
		}
	}
	if jti, _ := c["jti"].(string); len(jti) != 36 {
		t.Errorf("jti = %v, want a UUID", c["jti"])
	}
	// One audience is a string, as Kubernetes writes it.
	if c := claimsOf(t, f.issue(t, Request{})); c["aud"] != DefaultIssuer {
		t.Errorf("single aud = %#v", c["aud"])
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if !strings.Contains(string(header), `"kid":"`+f.keys.SigningKeyID()+`"`) || !strings.Contains(string(header), `"alg":"ES256"`) {
		t.Errorf("header %s", header)
	}
	if _, err := f.issuer.Issue(Request{ServiceAccount: f.sa, Pod: f.pod, Secret: &corev1.Secret{}}); err == nil {
		t.Error("issued a token bound to a pod and a secret")
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t) // another key
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "s", UID: "secret-uid"}}
	f.objects.add("Secret", secret)

	plain := f.issue(t, Request{})
	podBound := f.issue(t, Request{Pod: f.pod})
	secretBound := f.issue(t, Request{Secret: secret})
	vault := f.issue(t, Request{Audiences: []string{"vault"}})
	forged := other.issue(t, Request{})
	parts := strings.Split(plain, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+DefaultIssuer+`","sub":"system:serviceaccount:kube-system:admin"}`)) + "." + parts[2]

	tests := []struct {
		name    string
		token   string
		advance time.Duration
		change  func()
		want    error  // nil: authenticates
		result  string // the metric's result
	}{
		{"valid", plain, 0, nil, nil, "success"},
		{"pod-bound", podBound, 0, nil, nil, "success"},
		{"secret-bound", secretBound, 0, nil, nil, "success"},
		{"within the leeway after expiry", plain, time.Hour + 30*time.Second, nil, nil, "success"},
		{"expired", plain, time.Hour + 2*time.Minute, nil, ErrInvalidToken, "expired"},
		{"not yet valid", plain, -5 * time.Minute, nil, ErrInvalidToken, "not_yet_valid"},
		{"wrong audience", vault, 0, nil, ErrInvalidToken, "wrong_audience"},
		{"another key", forged, 0, nil, ErrInvalidToken, "bad_signature"},
		{"tampered claims", tampered, 0, nil, ErrInvalidToken, "bad_signature"},
		{"static token", "0123abcd", 0, nil, ErrNotServiceAccountToken, ""},
		{"three parts but no JWT", "a.b.c", 0, nil, ErrNotServiceAccountToken, ""},
		{"pod deleted", podBound, 0, func() { delete(f.objects, "Pod/shop/web-1") }, ErrInvalidToken, "invalidated"},
		{"pod replaced", podBound, 0, func() {
			f.objects.add("Pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "new"}})
		}, ErrInvalidToken, "invalidated"},
		{"pod terminating for a while", podBound, 0, func() {
			gone := metav1.NewTime(f.now.Add(-2 * time.Minute))
			f.objects.add("Pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "pod-uid", DeletionTimestamp: &gone}})
		}, ErrInvalidToken, "invalidated"},
		{"pod just started terminating", podBound, 0, func() {
			gone := metav1.NewTime(f.now.Add(-10 * time.Second))
			f.objects.add("Pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", UID: "pod-uid", DeletionTimestamp: &gone}})
		}, nil, "success"},
		{"secret deleted", secretBound, 0, func() { delete(f.objects, "Secret/shop/s") }, ErrInvalidToken, "invalidated"},
		{"service account recreated", plain, 0, func() {
			f.objects.add("ServiceAccount", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "builder", UID: "other"}})
		}, ErrInvalidToken, "invalidated"},
		{"service account deleted", plain, 0, func() { delete(f.objects, "ServiceAccount/shop/builder") }, ErrInvalidToken, "invalidated"},
	}
	base := f.now
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := objects{}
			for k, v := range f.objects {
				saved[k] = v
			}
			t.Cleanup(func() {
				clear(f.objects)
				for k, v := range saved {
					f.objects[k] = v
				}
				f.now = base
			})
			f.now = base.Add(tt.advance)
			if tt.change != nil {
				tt.change()
			}
			before := counterValue(t, tt.result)
			u, err := f.authn.Authenticate(t.Context(), tt.token)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Authenticate = %+v, %v; want %v", u, err, tt.want)
			}
			if tt.result != "" && counterValue(t, tt.result) != before+1 {
				t.Errorf("metric result %q not counted", tt.result)
			}
			if err != nil {
				if strings.Contains(err.Error(), tt.token) {
					t.Error("the error carries the token")
				}
				return
			}
			if u.Name != "system:serviceaccount:shop:builder" || u.UID != "sa-uid" ||
				!slices.Equal(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"}) {
				t.Errorf("user %+v", u)
			}
		})
	}
	if u, err := f.authn.Authenticate(t.Context(), podBound); err != nil || u.PodName != "web-1" || u.PodUID != "pod-uid" {
		t.Errorf("pod-bound user %+v, %v", u, err)
	}
}

func counterValue(t *testing.T, result string) float64 {
	t.Helper()
	if result == "" {
		return 0
	}
	var out dto.Metric
	if err := authentications.WithLabelValues(result).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}

func TestAudiences(t *testing.T) {
	f := newFixture(t)
	a := NewAuthenticator(f.keys, DefaultIssuer, []string{"api", "vault"}, f.objects, nil)
	a.now = func() time.Time { return f.now }
	if _, err := a.Authenticate(t.Context(), f.issue(t, Request{Audiences: []string{"vault"}})); err != nil {
		t.Errorf("an accepted audience: %v", err)
	}
	if _, err := a.Authenticate(t.Context(), f.issue(t, Request{})); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the issuer is not among the audiences: %v", err)
	}
	// Another issuer's token is not this authenticator's to judge.
	b := NewAuthenticator(f.keys, "https://other.example", nil, f.objects, nil)
	if _, err := b.Authenticate(t.Context(), f.issue(t, Request{})); !errors.Is(err, ErrNotServiceAccountToken) {
		t.Errorf("another issuer: %v", err)
	}
}

func TestUserName(t *testing.T) {
	if got := UserName("ns", "sa"); got != "system:serviceaccount:ns:sa" {
		t.Errorf("UserName = %q", got)
	}
	for _, bad := range []string{"admin", "system:serviceaccount:ns", "system:serviceaccount::x", "system:serviceaccount:a:b:c"} {
		if _, _, err := SplitUserName(bad); err == nil {
			t.Errorf("SplitUserName(%q) passed", bad)
		}
	}
	if ns, n, err := SplitUserName("system:serviceaccount:ns:sa"); err != nil || ns != "ns" || n != "sa" {
		t.Errorf("SplitUserName = %q %q %v", ns, n, err)
	}
}
