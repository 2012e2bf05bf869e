package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/controlplane/servers"
	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// Files every server of a cluster shares, by their path in the data dir:
// what a joining server receives (k3s's bootstrap data).
var (
	caFiles = []string{
		filepath.Join("pki", pki.CACertFile), filepath.Join("pki", pki.CAKeyFile),
		filepath.Join("pki", pki.EtcdDir, pki.CACertFile), filepath.Join("pki", pki.EtcdDir, pki.CAKeyFile),
	}
	saKeyFile      = filepath.Join("pki", ServiceAccountKey)
	encryptionFile = filepath.Join("pki", EncryptionConfigFile)
	tokensFile     = "tokens.csv"
)

// bootstrapFiles reads the shared files, the service account key and the
// encryption configuration from where this server reads them (flags may
// name other paths); a joining server keeps them at the default paths.
func bootstrapFiles(cfg Config) (map[string][]byte, error) {
	paths := map[string]string{saKeyFile: cfg.ServiceAccountSigningKeyFile, encryptionFile: cfg.EncryptionProviderConfig, tokensFile: ""}
	for _, f := range caFiles {
		paths[f] = ""
	}
	files := make(map[string][]byte, len(paths))
	for name, path := range paths {
		if path == "" {
			path = filepath.Join(cfg.DataDir, name)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("bootstrap data: %w", err)
		}
		files[name] = data
	}
	return files, nil
}

// joinCluster asks cfg.Join to take this server in, writes what it sends
// into the data dir, and sets p up to join the etcd cluster.
func joinCluster(ctx context.Context, cfg Config, tok servers.Token, p *memberPlan) error {
	cfg.Log.Info("joining the cluster", "server", cfg.Join, "name", p.name, "peer_url", p.peerURL())
	b, err := servers.Join(ctx, cfg.Join, tok, servers.JoinRequest{Name: p.name, PeerURL: p.peerURL()})
	if err != nil {
		return err
	}
	if hash, err := servers.CAHash(b.Files[caFiles[0]]); err != nil || hash != tok.CAHash {
		return fmt.Errorf("join %s: the bootstrap data: %w", cfg.Join, servers.ErrCAMismatch)
	}
	for name, data := range b.Files {
		if !isSharedFile(name) {
			return fmt.Errorf("join %s: the bootstrap data names %q, which is not a file servers share", cfg.Join, name)
		}
		path := filepath.Join(cfg.DataDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		mode := os.FileMode(0o600)
		if filepath.Ext(name) == ".crt" {
			mode = 0o644
		}
		if err := atomicfile.Write(path, data, mode); err != nil {
			return err
		}
	}
	if err := servers.WriteToken(filepath.Join(cfg.DataDir, servers.TokenFile), tok); err != nil {
		return err
	}
	p.cluster, p.existing = servers.InitialCluster(b.Members), true
	return nil
}

// checkOwnCA refuses a data dir that belongs to another cluster: joining
// needs an empty one (or one that joined this cluster before).
func checkOwnCA(dataDir string, tok servers.Token) error {
	path := filepath.Join(dataDir, caFiles[0])
	ca, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if hash, err := servers.CAHash(ca); err != nil || hash != tok.CAHash {
		return fmt.Errorf("--join: %s holds the CA of another cluster than the token's; join with an empty --data-dir", path)
	}
	return nil
}

func isSharedFile(name string) bool {
	return slices.Contains(append([]string{saKeyFile, encryptionFile, tokensFile}, caFiles...), name)
}

// joinHandler serves joins and the server list with the cluster's server
// token (made on the first start).
func joinHandler(cfg Config, caPEM []byte, client *clientv3.Client) (*servers.Handler, error) {
	tok, err := servers.LoadOrCreateToken(filepath.Join(cfg.DataDir, servers.TokenFile), caPEM)
	if err != nil {
		return nil, err
	}
	return &servers.Handler{Token: tok, CAPEM: caPEM, Etcd: client, Log: cfg.Log.With("component", "servers"),
		Files: func() (map[string][]byte, error) { return bootstrapFiles(cfg) }}, nil
}
