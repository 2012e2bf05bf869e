package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/controlplane/encryption"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/serviceaccount"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Where a data dir keeps the keys every API server of a cluster must share:
// next to the CA, so that copying pki/ to another replica copies them too.
const (
	EncryptionConfigFile = "encryption-config.yaml"
	ServiceAccountKey    = "sa.key"
)

// setUpEncryption makes st encrypt what the encryption configuration names
// (by default <data-dir>/pki/encryption-config.yaml, made on first start:
// Secrets with AES-GCM) and checks that the other API servers on this etcd
// use the same keys.
func setUpEncryption(ctx context.Context, cfg Config, st *store.Store, client *clientv3.Client) error {
	path, create := cfg.EncryptionProviderConfig, false
	if path == "" {
		path, create = filepath.Join(cfg.DataDir, "pki", EncryptionConfigFile), true
	}
	enc, err := encryption.LoadOrCreate(path, create)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(enc.Transformers))
	for name := range enc.Transformers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := enc.Transformers[name]
		i := slices.IndexFunc(registry.All, func(info *registry.Info) bool {
			return info.GroupVersion.Group == "" && info.Name == name
		})
		if i < 0 {
			return fmt.Errorf("encryption config %s: %q is not a core resource Shoal serves", path, name)
		}
		st.SetTransformer(registry.All[i].Resource, t)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := encryption.CheckShared(cctx, client, name, t)
		cancel()
		if err != nil {
			return fmt.Errorf("encryption config %s: %w", path, err)
		}
	}
	cfg.Log.Info("encryption at rest", "config", path, "resources", strings.Join(names, ","))
	return nil
}

// setUpTokens loads (or, at the default path, creates) the service account
// signing key, checks that the other API servers on this etcd share it,
// and returns the token issuer and authenticator.
func setUpTokens(ctx context.Context, cfg Config, st *store.Store, caches *store.Caches, log *slog.Logger) (*serviceaccount.Issuer, *serviceaccount.Authenticator, error) {
	path, create := cfg.ServiceAccountSigningKeyFile, false
	if path == "" {
		path, create = filepath.Join(cfg.DataDir, "pki", ServiceAccountKey), true
	}
	keys, err := serviceaccount.LoadOrCreateKeys(path, create, cfg.ServiceAccountKeyFiles)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = serviceaccount.CheckShared(cctx, st.Client(), keys)
	cancel()
	if err != nil {
		return nil, nil, fmt.Errorf("service account signing key %s: %w", path, err)
	}
	iss := cfg.ServiceAccountIssuer
	if iss == "" {
		iss = serviceaccount.DefaultIssuer
	}
	issuer, err := serviceaccount.NewIssuer(keys, iss)
	if err != nil {
		return nil, nil, err
	}
	authn := serviceaccount.NewAuthenticator(keys, iss, cfg.APIAudiences, serviceaccount.CachedObjects{Caches: caches, Store: st}, log)
	return issuer, authn, nil
}
