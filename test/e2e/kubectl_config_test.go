package e2e

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
)

const e2eSecret = "e2e-plaintext-p4ssw0rd"

// TestKubectlConfigMapsAndSecrets: the real kubectl creates, lists and
// prints ConfigMaps and Secrets as against Kubernetes; the Secret is
// ciphertext in etcd; one over 1 MiB is refused and not stored.
func TestKubectlConfigMapsAndSecrets(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	out, _ := k.ok(t, "create", "configmap", "app", "--from-literal=color=blue", "--from-literal=size=L")
	wantKubectlLines(t, out, "configmap/app created")
	out, _ = k.ok(t, "create", "secret", "generic", "db", "--from-literal=password="+e2eSecret)
	wantKubectlLines(t, out, "secret/db created")

	out, _ = k.ok(t, "get", "cm", "app")
	parseKubectlTables(out)[0].check(t, "NAME DATA AGE", "app", map[string]string{"DATA": "2"})
	out, _ = k.ok(t, "get", "secret", "db")
	parseKubectlTables(out)[0].check(t, "NAME TYPE DATA AGE", "db", map[string]string{"TYPE": "Opaque", "DATA": "1"})
	out, _ = k.ok(t, "get", "secret", "db", "-o", "yaml")
	if want := "password: " + base64.StdEncoding.EncodeToString([]byte(e2eSecret)); !strings.Contains(out, want) || !strings.Contains(out, "type: Opaque") {
		t.Errorf("get -o yaml lacks %q:\n%s", want, out)
	}
	out, _ = k.ok(t, "get", "secret", "db", "-o", "jsonpath={.data.password}")
	if dec, _ := base64.StdEncoding.DecodeString(out); string(dec) != e2eSecret {
		t.Errorf("jsonpath password = %q", out)
	}

	raw, err := s.Etcd.Get(t.Context(), "/registry/secrets/default/db")
	if err != nil || len(raw.Kvs) != 1 {
		t.Fatalf("raw etcd: %v", err)
	}
	if v := raw.Kvs[0].Value; !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:key1:")) || bytes.Contains(v, []byte(e2eSecret)) {
		t.Errorf("etcd holds %q", v[:min(len(v), 60)])
	}

	big := filepath.Join(k.dir, "blob")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := k.fails(t, "create", "secret", "generic", "big", "--from-file=blob="+big)
	if !strings.Contains(stderr, `Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes`) || strings.Contains(stderr, "xxxxxxxx") {
		t.Errorf("kubectl create of a big secret said:\n%.500s", stderr)
	}
	stderr = k.fails(t, "get", "secret", "big")
	if !strings.Contains(stderr, `secrets "big" not found`) {
		t.Errorf("the refused secret: %s", stderr)
	}

	// Immutable, as kubectl edit/patch users meet it.
	k.ok(t, "patch", "cm", "app", "-p", `{"immutable":true}`)
	stderr = k.fails(t, "patch", "cm", "app", "-p", `{"data":{"color":"red"}}`)
	if !strings.Contains(stderr, "field is immutable when `immutable` is set") {
		t.Errorf("patch of an immutable configmap: %s", stderr)
	}
}

// TestKubectlCreateToken: `kubectl create token` issues a token that
// authenticates as the ServiceAccount (`kubectl auth whoami`); one for
// another audience does not; a pod-bound one stops working when the pod
// is deleted.
func TestKubectlCreateToken(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	testenv.Eventually(t, 20*time.Second, "the default service account", func() error {
		_, err := s.Clientset(t).CoreV1().ServiceAccounts("default").Get(t.Context(), "default", metav1.GetOptions{})
		return err
	})
	out, _ := k.ok(t, "get", "sa")
	parseKubectlTables(out)[0].check(t, "NAME SECRETS AGE", "default", map[string]string{"SECRETS": "0"})

	tok, _ := k.ok(t, "create", "token", "default", "--duration", "20m")
	tok = strings.TrimSpace(tok)
	whoami := func(token string) (string, error) {
		out, stderr, err := k.withToken(token).run(t, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
		if err != nil {
			return stderr, err
		}
		return out, nil
	}
	out, err := whoami(tok)
	if err != nil || out != "system:serviceaccount:default:default [\"system:serviceaccounts\",\"system:serviceaccounts:default\",\"system:authenticated\"]" {
		t.Fatalf("whoami: %v %s", err, out)
	}
	// Until RBAC: no access to resources.
	stderr := k.withToken(tok).fails(t, "get", "pods")
	if !strings.Contains(stderr, `User "system:serviceaccount:default:default" cannot list resource "pods"`) {
		t.Errorf("get pods with the token: %s", stderr)
	}

	vault, _ := k.ok(t, "create", "token", "default", "--audience", "vault")
	if out, err := whoami(strings.TrimSpace(vault)); err == nil || !strings.Contains(out, "Unauthorized") {
		t.Errorf("a token for another audience: %v %s", err, out)
	}
	stderr = k.fails(t, "create", "token", "default", "--duration", "1m")
	if !strings.Contains(stderr, "may not specify a duration less than 10 minutes") {
		t.Errorf("a 1 minute token: %s", stderr)
	}

	k.ok(t, "run", "job", "--image", "busybox", "--restart", "Never", "--command", "--", "/bin/sleep", "60")
	bound, _ := k.ok(t, "create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "job")
	bound = strings.TrimSpace(bound)
	if _, err := whoami(bound); err != nil {
		t.Fatalf("pod-bound token: %v", err)
	}
	// The pod runs nowhere (no node), so it goes at once.
	k.ok(t, "delete", "pod", "job", "--wait=false")
	testenv.Eventually(t, 20*time.Second, "the pod-bound token refused", func() error {
		if _, err := whoami(bound); err == nil {
			return errors.New("still accepted")
		}
		return nil
	})
	if _, err := whoami(tok); err != nil {
		t.Errorf("the unbound token stopped with the pod: %v", err)
	}
}
