package encryption

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// The file format: kube-apiserver's EncryptionConfiguration.
type fileConfig struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Resources  []resourceConfig `json:"resources"`
}

type resourceConfig struct {
	Resources []string         `json:"resources"`
	Providers []providerConfig `json:"providers"`
}

type providerConfig struct {
	AESGCM    *keysConfig `json:"aesgcm,omitempty"`
	Secretbox *keysConfig `json:"secretbox,omitempty"`
	Identity  *struct{}   `json:"identity,omitempty"`
}

type keysConfig struct {
	Keys []keyConfig `json:"keys"`
}

type keyConfig struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

const (
	apiVersion = "apiserver.config.k8s.io/v1"
	kind       = "EncryptionConfiguration"
)

// Config is a loaded encryption configuration.
type Config struct {
	// Transformers holds the transformer of each resource the file names
	// ("secrets"), to pass to store.SetTransformer.
	Transformers map[string]*Transformer
}

// Load reads the EncryptionConfiguration at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read encryption config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("encryption config %s: %w", path, err)
	}
	return cfg, nil
}

// LoadOrCreate is Load; if create is set and there is no file at path, it
// first writes one (mode 0600) that encrypts Secrets with a new random
// 256-bit AES-GCM key, and can still read Secrets stored unencrypted.
func LoadOrCreate(path string, create bool) (*Config, error) {
	if _, err := os.Stat(path); create && errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		if err := atomicfile.Write(path, newConfigFile(), 0o600); err != nil {
			return nil, fmt.Errorf("write encryption config: %w", err)
		}
	}
	return Load(path)
}

// newConfigFile is a configuration with one new key.
func newConfigFile() []byte {
	key := make([]byte, 32)
	rand.Read(key) // never fails
	return fmt.Appendf(nil, `# Shoal's encryption at rest (kube-apiserver's EncryptionConfiguration).
# Every API server on the same etcd needs this same file. To rotate the key,
# see the README ("Secrets are encrypted at rest").
apiVersion: %s
kind: %s
resources:
- resources: [secrets]
  providers:
  - aesgcm:
      keys:
      - name: key1
        secret: %s
  - identity: {}
`, apiVersion, kind, base64.StdEncoding.EncodeToString(key))
}

// Parse reads an EncryptionConfiguration. Errors name the field at fault,
// never a key's value.
func Parse(data []byte) (*Config, error) {
	var f fileConfig
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if f.APIVersion != apiVersion || f.Kind != kind {
		return nil, fmt.Errorf("apiVersion and kind must be %s %s, not %q %q", apiVersion, kind, f.APIVersion, f.Kind)
	}
	if len(f.Resources) == 0 {
		return nil, errors.New("resources: at least one entry is required")
	}
	cfg := &Config{Transformers: map[string]*Transformer{}}
	for i, rc := range f.Resources {
		path := fmt.Sprintf("resources[%d]", i)
		if len(rc.Resources) == 0 {
			return nil, fmt.Errorf("%s.resources: at least one resource is required", path)
		}
		t, err := parseProviders(rc.Providers, path+".providers")
		if err != nil {
			return nil, err
		}
		for j, r := range rc.Resources {
			if r == "" || strings.ContainsAny(r, "*/ ") {
				return nil, fmt.Errorf("%s.resources[%d]: %q: name a resource (secrets, configmaps)", path, j, r)
			}
			r = strings.TrimSuffix(r, ".") // "secrets." is the core group spelled out
			if _, dup := cfg.Transformers[r]; dup {
				return nil, fmt.Errorf("%s.resources[%d]: %q is listed twice", path, j, r)
			}
			cfg.Transformers[r] = t
		}
	}
	return cfg, nil
}

func parseProviders(pcs []providerConfig, path string) (*Transformer, error) {
	if len(pcs) == 0 {
		return nil, fmt.Errorf("%s: at least one provider is required", path)
	}
	t := &Transformer{}
	for i, pc := range pcs {
		p := fmt.Sprintf("%s[%d]", path, i)
		set := 0
		for _, b := range []bool{pc.AESGCM != nil, pc.Secretbox != nil, pc.Identity != nil} {
			if b {
				set++
			}
		}
		if set != 1 {
			return nil, fmt.Errorf("%s: exactly one of aesgcm, secretbox or identity is required", p)
		}
		switch {
		case pc.Identity != nil:
			t.providers = append(t.providers, provider{})
		case pc.AESGCM != nil:
			ps, err := parseKeys(pc.AESGCM, p+".aesgcm", "aesgcm", newAESGCM, aesKeySizes)
			if err != nil {
				return nil, err
			}
			t.providers = append(t.providers, ps...)
		case pc.Secretbox != nil:
			ps, err := parseKeys(pc.Secretbox, p+".secretbox", "secretbox", newSecretbox, []int{secretboxKeySize})
			if err != nil {
				return nil, err
			}
			t.providers = append(t.providers, ps...)
		}
	}
	return t, nil
}

var aesKeySizes = []int{16, 24, 32}

func parseKeys(kc *keysConfig, path, name string, newSealer func([]byte) (sealer, error), sizes []int) ([]provider, error) {
	if len(kc.Keys) == 0 {
		return nil, fmt.Errorf("%s.keys: at least one key is required", path)
	}
	seen := map[string]bool{}
	var out []provider
	for i, k := range kc.Keys {
		p := fmt.Sprintf("%s.keys[%d]", path, i)
		if k.Name == "" || strings.Contains(k.Name, ":") {
			return nil, fmt.Errorf("%s.name: %q: a non-empty name without ':' is required", p, k.Name)
		}
		if seen[k.Name] {
			return nil, fmt.Errorf("%s.name: %q is listed twice", p, k.Name)
		}
		seen[k.Name] = true
		secret, err := base64.StdEncoding.DecodeString(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("%s.secret: not valid base64", p)
		}
		if !slices.Contains(sizes, len(secret)) {
			return nil, fmt.Errorf("%s.secret: a %s key must be %s bytes, this one is %d", p, name, sizesText(sizes), len(secret))
		}
		c, err := newSealer(secret)
		if err != nil {
			return nil, fmt.Errorf("%s.secret: %w", p, err)
		}
		out = append(out, provider{prefix: "k8s:enc:" + name + ":v1:" + k.Name + ":", cipher: c})
	}
	return out, nil
}

func sizesText(sizes []int) string {
	parts := make([]string, len(sizes))
	for i, s := range sizes {
		parts[i] = fmt.Sprint(s)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}
