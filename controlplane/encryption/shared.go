package encryption

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// canaryPrefix holds one value per encrypted resource, written by whichever
// API server started last: an API server whose configuration cannot read it
// was given another file than the others, and must not start, or the
// Secrets it wrote could not be read by the rest (and theirs not by it).
const canaryPrefix = "/shoal/encryption/canary/"

const canaryText = "shoal encryption canary"

// CheckShared verifies that t, the transformer of resource, reads what the
// other API servers on this etcd encrypt (ErrKeyMismatch if not), then
// writes the canary with t's first provider so the next server to start
// checks against the current key.
func CheckShared(ctx context.Context, client *clientv3.Client, resource string, t *Transformer) error {
	key := canaryPrefix + resource
	resp, err := client.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read the encryption canary: %w", err)
	}
	var rev int64
	if len(resp.Kvs) > 0 {
		kv := resp.Kvs[0]
		plain, stale, err := t.TransformFromStorage(kv.Value, key)
		if err != nil || string(plain) != canaryText {
			if err == nil {
				err = errors.New("it decrypts to something else")
			}
			return fmt.Errorf("%s: %w: %v; give every API server the same encryption configuration file", resource, ErrKeyMismatch, err)
		}
		if !stale {
			return nil
		}
		rev = kv.ModRevision
	}
	sealed, err := t.TransformToStorage([]byte(canaryText), key)
	if err != nil {
		return fmt.Errorf("encrypt the canary: %w", err)
	}
	// Another server may write it at the same time; either write is fine.
	_, err = client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(clientv3.OpPut(key, string(sealed))).Commit()
	if err != nil {
		return fmt.Errorf("write the encryption canary: %w", err)
	}
	return nil
}
