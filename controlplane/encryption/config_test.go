package encryption

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(n int, fill byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
}

func config(providers string) string {
	return "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n" + providers
}

func aesgcm(keys ...string) string {
	s := "  - aesgcm:\n      keys:\n"
	for _, k := range keys {
		name, secret, _ := strings.Cut(k, "=")
		s += "      - name: " + name + "\n        secret: " + secret + "\n"
	}
	return s
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"wrong kind", "apiVersion: v1\nkind: Secret\n", "apiVersion and kind"},
		{"no resources", "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n", "resources: at least one"},
		{"unknown field", config(aesgcm("k1="+key(32, 1))) + "  - rot13: {}\n", "unknown field"},
		{"no providers", config(""), "providers: at least one provider"},
		{"two kinds in one provider", config("  - identity: {}\n    aesgcm: {keys: [{name: a, secret: " + key(32, 1) + "}]}\n"), "exactly one of"},
		{"no keys", config("  - aesgcm: {keys: []}\n"), "keys: at least one key"},
		{"bad base64", config(aesgcm("k1=not base64!")), "providers[0].aesgcm.keys[0].secret: not valid base64"},
		{"short aes key", config(aesgcm("k1=" + key(20, 1))), "must be 16, 24 or 32 bytes, this one is 20"},
		{"short secretbox key", config("  - secretbox: {keys: [{name: a, secret: " + key(16, 1) + "}]}\n"), "must be 32 bytes"},
		{"empty key name", config(aesgcm("=" + key(32, 1))), "keys[0].name"},
		{"colon in key name", config(aesgcm("a:b=" + key(32, 1))), "without ':'"},
		{"duplicate key name", config(aesgcm("a="+key(32, 1), "a="+key(32, 2))), `"a" is listed twice`},
		{"wildcard resource", strings.Replace(config(aesgcm("k="+key(32, 1))), "[secrets]", "['*.*']", 1), "name a resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), key(32, 1)) {
				t.Errorf("the error shows a key: %v", err)
			}
		})
	}
}

func transformer(t *testing.T, providers string) *Transformer {
	t.Helper()
	cfg, err := Parse([]byte(config(providers)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Transformers["secrets"]
}

func TestRoundTrip(t *testing.T) {
	plain := []byte(`{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}`)
	const at = "/registry/secrets/default/db"
	for _, tt := range []struct {
		name, providers, prefix string
	}{
		{"aesgcm 256", aesgcm("key1=" + key(32, 7)), "k8s:enc:aesgcm:v1:key1:"},
		{"aesgcm 128", aesgcm("k=" + key(16, 7)), "k8s:enc:aesgcm:v1:k:"},
		{"secretbox", "  - secretbox: {keys: [{name: box, secret: " + key(32, 7) + "}]}\n", "k8s:enc:secretbox:v1:box:"},
		{"identity first", "  - identity: {}\n" + aesgcm("key1="+key(32, 7)), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := transformer(t, tt.providers)
			stored, err := tr.TransformToStorage(plain, at)
			if err != nil {
				t.Fatal(err)
			}
			if tt.prefix == "" {
				if !bytes.Equal(stored, plain) {
					t.Fatalf("identity changed the value: %q", stored)
				}
			} else {
				if !bytes.HasPrefix(stored, []byte(tt.prefix)) {
					t.Fatalf("stored %q, want prefix %q", stored[:min(len(stored), 40)], tt.prefix)
				}
				if bytes.Contains(stored, []byte("aHVudGVyMg")) || bytes.Contains(stored, []byte("password")) {
					t.Fatal("the plaintext is in the stored value")
				}
				again, _ := tr.TransformToStorage(plain, at)
				if bytes.Equal(again, stored) {
					t.Error("two encryptions are equal: the nonce is not random")
				}
			}
			got, stale, err := tr.TransformFromStorage(stored, at)
			if err != nil || stale || !bytes.Equal(got, plain) {
				t.Fatalf("read back %q, stale %v, %v", got, stale, err)
			}
		})
	}
}

func TestAESGCMBindsTheKey(t *testing.T) {
	tr := transformer(t, aesgcm("key1="+key(32, 7)))
	stored, _ := tr.TransformToStorage([]byte("x"), "/registry/secrets/a/one")
	if _, _, err := tr.TransformFromStorage(stored, "/registry/secrets/a/two"); err == nil {
		t.Fatal("a value moved to another etcd key decrypted")
	}
	stored[len(stored)-1] ^= 1
	if _, _, err := tr.TransformFromStorage(stored, "/registry/secrets/a/one"); err == nil {
		t.Fatal("a tampered value decrypted")
	}
}

// TestRotation walks the documented rotation: every step reads what the
// step before wrote, and values written under an old key are stale.
func TestRotation(t *testing.T) {
	const at = "/registry/secrets/default/db"
	old := transformer(t, aesgcm("old="+key(32, 1))+"  - identity: {}\n")
	plainStored := []byte(`{"a":1}`)
	oldStored, _ := old.TransformToStorage([]byte(`{"a":2}`), at)

	// Unencrypted values (written before encryption) read through identity, stale.
	if got, stale, err := old.TransformFromStorage(plainStored, at); err != nil || !stale || string(got) != `{"a":1}` {
		t.Fatalf("plain value: %q %v %v", got, stale, err)
	}
	// Step 1: the new key second. Still writes with the old one.
	step1 := transformer(t, aesgcm("old="+key(32, 1), "new="+key(32, 2)))
	if s, _ := step1.TransformToStorage([]byte("x"), at); !bytes.HasPrefix(s, []byte("k8s:enc:aesgcm:v1:old:")) {
		t.Fatalf("step 1 writes %q", s[:24])
	}
	// Step 2: the new key first: old values are readable and stale.
	step2 := transformer(t, aesgcm("new="+key(32, 2), "old="+key(32, 1)))
	if got, stale, err := step2.TransformFromStorage(oldStored, at); err != nil || !stale || string(got) != `{"a":2}` {
		t.Fatalf("step 2 reading an old value: %q %v %v", got, stale, err)
	}
	newStored, _ := step2.TransformToStorage([]byte(`{"a":3}`), at)
	if !bytes.HasPrefix(newStored, []byte("k8s:enc:aesgcm:v1:new:")) {
		t.Fatalf("step 2 writes %q", newStored[:24])
	}
	// Step 4: the old key removed: new values read, old ones do not.
	step4 := transformer(t, aesgcm("new="+key(32, 2)))
	if _, stale, err := step4.TransformFromStorage(newStored, at); err != nil || stale {
		t.Fatalf("step 4 reading a new value: %v %v", stale, err)
	}
	_, _, err := step4.TransformFromStorage(oldStored, at)
	if !errors.Is(err, ErrNoProvider) || !strings.Contains(err.Error(), `"k8s:enc:aesgcm:v1:old"`) {
		t.Fatalf("step 4 reading an old value: %v", err)
	}
	if _, _, err := step4.TransformFromStorage(plainStored, at); !errors.Is(err, ErrNoProvider) {
		t.Fatalf("without identity, a plain value must not read: %v", err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pki", "encryption-config.yaml")
	if _, err := LoadOrCreate(path, false); err == nil {
		t.Fatal("loaded a file that does not exist")
	}
	cfg, err := LoadOrCreate(path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	tr := cfg.Transformers["secrets"]
	stored, _ := tr.TransformToStorage([]byte("x"), "k")
	if !bytes.HasPrefix(stored, []byte("k8s:enc:aesgcm:v1:key1:")) {
		t.Fatalf("the generated config writes %q", stored[:23])
	}
	// A second start reads the same key.
	again, err := LoadOrCreate(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := again.Transformers["secrets"].TransformFromStorage(stored, "k"); err != nil || string(got) != "x" {
		t.Fatalf("after reload: %q %v", got, err)
	}
}
