package encryption_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/encryption"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

const plaintext = "correct horse battery staple"

func secretsTransformer(t *testing.T, keys string) *encryption.Transformer {
	t.Helper()
	cfg, err := encryption.Parse([]byte(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aesgcm:
      keys:` + keys + `
  - identity: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Transformers["secrets"]
}

const (
	key1 = "\n      - {name: key1, secret: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=}"
	key2 = "\n      - {name: key2, secret: AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=}"
)

// TestStoreEncryptsSecrets runs the store with the transformer on a real
// etcd: the raw value holds the prefix and not the plaintext, and every way
// of reading (get, list, watch, the shared cache) sees the Secret decrypted.
func TestStoreEncryptsSecrets(t *testing.T) {
	etcd := storetest.StartEtcd(t)
	client := etcd.Client(t)
	st := store.New(client)
	st.SetTransformer(api.Secrets.Resource, secretsTransformer(t, key1))
	ctx := t.Context()

	cache := store.NewCache(st, api.Secrets.Resource, nil)
	go cache.Run(ctx)
	if err := cache.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	w := st.Watch(ctx, api.Secrets.Resource, "default", 0, store.Predicate{}, false)

	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Data: map[string][]byte{"password": []byte(plaintext)}}
	created, err := st.Create(ctx, api.Secrets.Resource, sec, store.Txn{})
	if err != nil {
		t.Fatal(err)
	}

	raw, err := client.Get(ctx, "/registry/secrets/default/db")
	if err != nil || len(raw.Kvs) != 1 {
		t.Fatalf("raw get: %v", err)
	}
	value := raw.Kvs[0].Value
	if !bytes.HasPrefix(value, []byte("k8s:enc:aesgcm:v1:key1:")) {
		t.Errorf("raw value starts %q, want k8s:enc:aesgcm:v1:key1:", value[:min(len(value), 30)])
	}
	for _, leak := range []string{plaintext, "Y29ycmVjdCBob3JzZ", "password", `"kind"`} {
		if bytes.Contains(value, []byte(leak)) {
			t.Errorf("raw value contains %q", leak)
		}
	}

	check := func(how string, obj store.Object) {
		t.Helper()
		if s, ok := obj.(*corev1.Secret); !ok || string(s.Data["password"]) != plaintext {
			t.Errorf("%s: got %#v", how, obj)
		}
	}
	got, err := st.Get(ctx, api.Secrets.Resource, "default", "db")
	if err != nil {
		t.Fatal(err)
	}
	check("get", got)
	list, err := st.List(ctx, api.Secrets.Resource, "", store.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %v, %d items", err, len(list.Items))
	}
	check("list", list.Items[0])
	select {
	case e := <-w:
		if e.Type != watch.Added {
			t.Fatalf("watch: %v %v", e.Type, e.Err)
		}
		check("watch", e.Object)
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event")
	}
	rev, _ := store.ParseResourceVersion(created.GetResourceVersion())
	if err := cache.WaitForRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	cached, ok := cache.Get("default", "db")
	if !ok {
		t.Fatal("not in the cache")
	}
	check("cache", cached)

	// A store without the key (a DNS replica, which never needs Secrets)
	// cannot read it and says so without the contents.
	_, err = store.New(client).Get(ctx, api.Secrets.Resource, "default", "db")
	if err == nil || bytes.Contains([]byte(err.Error()), []byte(plaintext)) {
		t.Errorf("read without the key: %v", err)
	}

	// ConfigMaps are not encrypted.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "c"}, Data: map[string]string{"k": "visible"}}
	if _, err := st.Create(ctx, api.ConfigMaps.Resource, cm, store.Txn{}); err != nil {
		t.Fatal(err)
	}
	raw, _ = client.Get(ctx, "/registry/configmaps/default/c")
	if !bytes.Contains(raw.Kvs[0].Value, []byte("visible")) {
		t.Error("a ConfigMap was transformed")
	}
}

// TestStaleAfterRotation: once a new key is first, a Secret read under the
// old one is stale until it is written again.
func TestStaleAfterRotation(t *testing.T) {
	client := storetest.StartEtcd(t).Client(t)
	ctx := t.Context()
	old := store.New(client)
	old.SetTransformer(api.Secrets.Resource, secretsTransformer(t, key1))
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"}, Data: map[string][]byte{"p": []byte(plaintext)}}
	if _, err := old.Create(ctx, api.Secrets.Resource, sec, store.Txn{}); err != nil {
		t.Fatal(err)
	}

	rotated := store.New(client)
	rotated.SetTransformer(api.Secrets.Resource, secretsTransformer(t, key2+key1))
	cur, err := rotated.Get(ctx, api.Secrets.Resource, "default", "db")
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.IsStale(api.Secrets.Resource, cur) {
		t.Fatal("a Secret under the old key is not stale")
	}
	if _, err := rotated.Update(ctx, api.Secrets.Resource, cur, store.Txn{}); err != nil {
		t.Fatal(err)
	}
	cur, err = rotated.Get(ctx, api.Secrets.Resource, "default", "db")
	if err != nil {
		t.Fatal(err)
	}
	if rotated.IsStale(api.Secrets.Resource, cur) {
		t.Error("still stale after the rewrite")
	}
	raw, _ := client.Get(ctx, "/registry/secrets/default/db")
	if !bytes.HasPrefix(raw.Kvs[0].Value, []byte("k8s:enc:aesgcm:v1:key2:")) {
		t.Errorf("rewritten as %q", raw.Kvs[0].Value[:23])
	}
}

func TestCheckShared(t *testing.T) {
	client := storetest.StartEtcd(t).Client(t)
	ctx := t.Context()
	first := secretsTransformer(t, key1)
	if err := encryption.CheckShared(ctx, client, "secrets", first); err != nil {
		t.Fatalf("first server: %v", err)
	}
	if err := encryption.CheckShared(ctx, client, "secrets", first); err != nil {
		t.Fatalf("same config again: %v", err)
	}
	other := secretsTransformer(t, key2)
	err := encryption.CheckShared(ctx, client, "secrets", other)
	if !errors.Is(err, encryption.ErrKeyMismatch) {
		t.Fatalf("another key: %v, want ErrKeyMismatch", err)
	}
	// Rotation: a server with both keys, the new one first, reads the
	// canary and rewrites it; then one with only the new key passes.
	if err := encryption.CheckShared(ctx, client, "secrets", secretsTransformer(t, key2+key1)); err != nil {
		t.Fatalf("rotating server: %v", err)
	}
	if err := encryption.CheckShared(ctx, client, "secrets", other); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}
