package resolver_test

import (
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/dns/resolver"
	"github.com/shoalmesh/shoal/dns/resolver/resolvertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// TestResolverReadmeCorefiles starts every Corefile in README.md, on free
// ports and against a test Shoal's etcd, and checks that the first one is
// what DefaultCorefile renders.
func TestResolverReadmeCorefiles(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```corefile\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) != 2 {
		t.Fatalf("README.md has %d corefile examples, want 2", len(blocks))
	}
	if got, want := blocks[0][1], resolver.DefaultCorefile("127.0.0.1:10053"); !strings.HasSuffix(want, got) {
		t.Errorf("README's built-in Corefile:\n%s\nDefaultCorefile renders:\n%s", got, want)
	}
	cr := startClusterResolver(t) // a Shoal, for the etcd the second example names
	for i, b := range blocks {
		_, port, _ := net.SplitHostPort(testenv.FreeAddr(t))
		corefile := strings.NewReplacer(
			":10053", ":"+port,
			"/etc/resolv.conf", cr.defaults.Upstream,
			"127.0.0.1:8181", testenv.FreeAddr(t),
			"127.0.0.1:8080", testenv.FreeAddr(t),
			"127.0.0.1:9153", testenv.FreeAddr(t),
			"https://127.0.0.1:2379", cr.shoal.Endpoints[0],
			"/var/lib/shoal/pki/etcd/client.crt", cr.shoal.EtcdFiles.ClientCert,
			"/var/lib/shoal/pki/etcd/client.key", cr.shoal.EtcdFiles.ClientKey,
			"/var/lib/shoal/pki/etcd/ca.crt", cr.shoal.EtcdFiles.CA,
		).Replace(b[1])
		srv, err := resolver.Start(t.Context(), corefile, resolvertest.Logger())
		if err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, corefile)
			continue
		}
		srv.Stop()
	}
}
