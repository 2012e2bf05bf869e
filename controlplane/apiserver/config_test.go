package apiserver_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

const plaintext = "s3cr3t-value-that-must-not-leak"

// TestConfigMapsAndSecrets goes through the API as a client would:
// stringData is merged, validation names fields without echoing values,
// immutable objects refuse changes, and the Secret's etcd value is
// ciphertext while every read sees the plaintext.
func TestConfigMapsAndSecrets(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("cfg")
	const secrets = "/api/v1/namespaces/cfg/secrets"
	const cms = "/api/v1/namespaces/cfg/configmaps"

	var s corev1.Secret
	a.do("POST", secrets, `{"metadata":{"name":"db"},"data":{"user":"YWRtaW4="},"stringData":{"password":"`+plaintext+`"}}`).must(t, http.StatusCreated).into(t, &s)
	if string(s.Data["password"]) != plaintext || string(s.Data["user"]) != "admin" || s.StringData != nil || s.Type != corev1.SecretTypeOpaque {
		t.Fatalf("created %+v", s)
	}
	raw, err := a.shoal.Etcd.Get(t.Context(), "/registry/secrets/cfg/db")
	if err != nil || len(raw.Kvs) != 1 {
		t.Fatalf("raw etcd get: %v", err)
	}
	if v := raw.Kvs[0].Value; !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:key1:")) ||
		bytes.Contains(v, []byte(plaintext)) || bytes.Contains(v, []byte(base64.StdEncoding.EncodeToString([]byte(plaintext))[:20])) {
		t.Errorf("etcd holds %q", v[:min(len(v), 60)])
	}
	got, err := a.cs.CoreV1().Secrets("cfg").Get(t.Context(), "db", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != plaintext {
		t.Fatalf("client-go get: %v %q", err, got.Data)
	}
	list, err := a.cs.CoreV1().Secrets("cfg").List(t.Context(), metav1.ListOptions{FieldSelector: "type=Opaque"})
	if err != nil || len(list.Items) != 1 || string(list.Items[0].Data["password"]) != plaintext {
		t.Fatalf("list: %v %+v", err, list)
	}

	bigData := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 1<<20+1))
	tests := []struct {
		name, method, path, body string
		code                     int
		msgs                     []string
	}{
		{"secret over 1 MiB", "POST", secrets, `{"metadata":{"name":"big"},"data":{"blob":"` + bigData + `"}}`, 422,
			[]string{`Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes`}},
		{"configmap over 1 MiB", "POST", cms, `{"metadata":{"name":"big"},"binaryData":{"blob":"` + bigData + `"}}`, 422,
			[]string{`ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes`}},
		{"bad key", "POST", cms, `{"metadata":{"name":"k"},"data":{"a b":"1"}}`, 422, []string{"data[a b]", "a valid config key"}},
		{"dockerconfigjson not JSON", "POST", secrets,
			`{"metadata":{"name":"pull"},"type":"kubernetes.io/dockerconfigjson","stringData":{".dockerconfigjson":"` + plaintext + `"}}`, 422,
			[]string{"data[.dockerconfigjson]", "<secret contents redacted>", "invalid JSON"}},
		{"tls without key", "POST", secrets, `{"metadata":{"name":"tls"},"type":"kubernetes.io/tls","stringData":{"tls.crt":"c"}}`, 422,
			[]string{"data[tls.key]: Required value"}},
		{"type change", "PATCH", secrets + "/db", `{"type":"kubernetes.io/basic-auth","stringData":{"username":"u"}}`, 422,
			[]string{"type: Invalid value", "field is immutable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(tt.method, tt.path, tt.body, "Content-Type", "application/merge-patch+json")
			if tt.method == "POST" {
				r = a.do(tt.method, tt.path, tt.body)
			}
			r.wantStatus(t, tt.code, metav1.StatusReasonInvalid, tt.msgs...)
			if bytes.Contains(r.body, []byte(plaintext)) || bytes.Contains(r.body, []byte("xxxxxxxx")) {
				t.Errorf("the answer echoes the value: %.300s", r.body)
			}
		})
	}
	for _, path := range []string{secrets + "/big", cms + "/big", secrets + "/pull"} {
		a.do("GET", path, "").must(t, http.StatusNotFound)
	}

	// Immutable: data is frozen, and so is immutable itself.
	a.do("POST", cms, `{"metadata":{"name":"frozen"},"data":{"a":"1"},"immutable":true}`).must(t, http.StatusCreated)
	a.do("PATCH", cms+"/frozen", `{"data":{"a":"2"}}`, "Content-Type", "application/merge-patch+json").
		wantStatus(t, 422, metav1.StatusReasonInvalid, "data: Forbidden: field is immutable when `immutable` is set")
	a.do("PATCH", cms+"/frozen", `{"immutable":false}`, "Content-Type", "application/merge-patch+json").
		wantStatus(t, 422, metav1.StatusReasonInvalid, "immutable: Forbidden: field is immutable when `immutable` is set")
	a.do("PATCH", cms+"/frozen", `{"metadata":{"labels":{"ok":"yes"}}}`, "Content-Type", "application/merge-patch+json").must(t, http.StatusOK)

	// Tables as kubectl asks for them.
	var tbl metav1.Table
	a.do("GET", secrets, "", "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").must(t, http.StatusOK).into(t, &tbl)
	if len(tbl.ColumnDefinitions) != 4 || tbl.ColumnDefinitions[1].Name != "Type" || len(tbl.Rows) != 1 || tbl.Rows[0].Cells[2] != float64(2) {
		t.Errorf("secret table %+v", tbl)
	}
	if bytes.Contains(a.do("GET", secrets, "", "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").body, []byte(plaintext)) {
		t.Error("the table shows the secret")
	}

	// Discovery names them as Kubernetes does.
	var res metav1.APIResourceList
	a.do("GET", "/api/v1", "").must(t, http.StatusOK).into(t, &res)
	want := map[string]string{"configmaps": "cm", "secrets": "", "serviceaccounts": "sa", "serviceaccounts/token": ""}
	for _, r := range res.APIResources {
		short, ok := want[r.Name]
		if !ok {
			continue
		}
		delete(want, r.Name)
		if got := strings.Join(r.ShortNames, ","); got != short || len(r.Categories) != 0 {
			t.Errorf("%s: short names %q categories %q", r.Name, got, r.Categories)
		}
		if r.Name == "serviceaccounts/token" && (r.Kind != "TokenRequest" || r.Group != "authentication.k8s.io" || strings.Join(r.Verbs, ",") != "create") {
			t.Errorf("token subresource %+v", r)
		}
	}
	if len(want) > 0 {
		t.Errorf("discovery lacks %v", want)
	}
}

// TestNamespaceDefaults: a new namespace gets its default ServiceAccount and
// the CA ConfigMap, and its pods get the account and the token volume.
func TestNamespaceDefaults(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("apps")
	ctx := t.Context()
	testenv.Eventually(t, 20*time.Second, "default account and kube-root-ca.crt", func() error {
		if _, err := a.cs.CoreV1().ServiceAccounts("apps").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return err
		}
		cm, err := a.cs.CoreV1().ConfigMaps("apps").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !strings.Contains(cm.Data["ca.crt"], "BEGIN CERTIFICATE") {
			t.Fatalf("kube-root-ca.crt %q", cm.Data)
		}
		return nil
	})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"/bin/sleep", "1"}}}}}
	got, err := a.cs.CoreV1().Pods("apps").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ServiceAccountName != "default" || len(got.Spec.Volumes) != 1 || !strings.HasPrefix(got.Spec.Volumes[0].Name, "kube-api-access-") ||
		len(got.Spec.Containers[0].VolumeMounts) != 1 {
		t.Errorf("admitted pod spec %+v", got.Spec)
	}
	pod.Name, pod.Spec.ServiceAccountName = "q", "ghost"
	_, err = a.cs.CoreV1().Pods("apps").Create(ctx, pod, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `pods "q" is forbidden: error looking up service account apps/ghost: serviceaccount "ghost" not found` {
		t.Errorf("pod of a missing account: %v", err)
	}
}
