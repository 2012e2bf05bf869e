package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"

	"github.com/shoalmesh/shoal/controlplane/pki"
)

// TestReadmeExamples parses the `cluster` block of every Corefile in
// README.md, as CoreDNS tests the examples in its plugins' READMEs.
func TestReadmeExamples(t *testing.T) {
	text, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The examples name client certificates; make real ones.
	dir := t.TempDir()
	if _, err := pki.LoadOrCreate(dir, nil); err != nil {
		t.Fatal(err)
	}
	files := strings.NewReplacer(
		"/etc/shoal/etcd-client.crt", filepath.Join(dir, pki.ServingCertFile),
		"/etc/shoal/etcd-client.key", filepath.Join(dir, pki.ServingKeyFile),
		"/etc/shoal/etcd-ca.crt", filepath.Join(dir, pki.CACertFile))
	examples := 0
	for i, part := range strings.Split(string(text), "~~~ corefile\n")[1:] {
		corefile, _, _ := strings.Cut(part, "~~~")
		blocks, err := caddyfile.Parse("README.md", strings.NewReader(files.Replace(corefile)), []string{"cluster", "autopath", "forward"})
		if err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		for _, b := range blocks {
			c := caddy.NewTestController("dns", "")
			c.Dispenser = caddyfile.NewDispenserTokens("README.md", b.Tokens["cluster"])
			c.ServerBlockKeys = b.Keys
			cfg, err := parse(c)
			if err != nil {
				t.Errorf("example %d: %v", i, err)
			}
			if len(cfg.Zones) == 0 || cfg.Zones[0] != "cluster.local." {
				t.Errorf("example %d: zones %v", i, cfg.Zones)
			}
			examples++
		}
	}
	if examples != 2 {
		t.Errorf("%d examples, want 2", examples)
	}
}
