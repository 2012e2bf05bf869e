package serviceaccount

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// canaryKey holds the key ID the API server that started last signs with
// and those it accepts: a server that would not accept the others' tokens,
// or whose tokens they would not accept, must not start — the tokens one
// server issued would be refused by the next.
const canaryKey = "/shoal/serviceaccount/canary"

type canary struct {
	Signing string   `json:"signing"`
	Accepts []string `json:"accepts"`
}

// CheckShared verifies that keys accept what the other API servers on
// this etcd sign and that they accept what keys sign (ErrKeysNotShared if
// not), then leaves keys' canary for the next server to check against.
func CheckShared(ctx context.Context, client *clientv3.Client, keys *Keys) error {
	mine := canary{Signing: keys.signingID, Accepts: slices.Sorted(maps.Keys(keys.verify))}
	resp, err := client.Get(ctx, canaryKey)
	if err != nil {
		return fmt.Errorf("read the service account key canary: %w", err)
	}
	var rev int64
	if len(resp.Kvs) > 0 {
		var theirs canary
		if err := json.Unmarshal(resp.Kvs[0].Value, &theirs); err != nil {
			return fmt.Errorf("service account key canary: %w", err)
		}
		if _, ok := keys.verify[theirs.Signing]; !ok {
			return fmt.Errorf("%w: the others sign with key %s, which this server does not accept; give every server the same signing key (a server that joins with --join receives it), or add the others' public key with --service-account-key-file",
				ErrKeysNotShared, theirs.Signing)
		}
		if !slices.Contains(theirs.Accepts, mine.Signing) {
			return fmt.Errorf("%w: this server signs with key %s, which the others do not accept; give every server the same signing key, or add its public key to the others with --service-account-key-file first",
				ErrKeysNotShared, mine.Signing)
		}
		if slices.Equal(theirs.Accepts, mine.Accepts) && theirs.Signing == mine.Signing {
			return nil
		}
		rev = resp.Kvs[0].ModRevision
	}
	data, _ := json.Marshal(mine)
	// Another server may write it at the same time; either write is fine.
	_, err = client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(canaryKey), "=", rev)).Then(clientv3.OpPut(canaryKey, string(data))).Commit()
	if err != nil {
		return fmt.Errorf("write the service account key canary: %w", err)
	}
	return nil
}
