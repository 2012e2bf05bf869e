package cluster

import (
	"slices"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/test"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// For the tests of package cluster_test, which start a whole Shoal through
// cluster/clustertest (the composition package, cluster, imports this one).

// ConformanceCases are the conformance test's cases.
var ConformanceCases = conformanceCases

// Sorted returns tc with its sections sorted as test.SortAndCheck sorts a response.
func Sorted(tc test.Case) test.Case { return sorted(tc) }

// FixtureObjects are the conformance fixture's objects.
func FixtureObjects() ([]*corev1.Namespace, []*corev1.Service, []*discoveryv1.EndpointSlice, []*corev1.Pod) {
	f := newFixture()
	return f.namespaces, f.services, f.slices, f.pods
}

// directives are CoreDNS's own with `cluster` where `kubernetes` is, taken
// before anything runs: starting a whole Shoal sets dns/resolver's curated
// list, which has neither kubernetes nor hosts.
var directives = func() []string {
	d := slices.Clone(dnsserver.Directives)
	return slices.Insert(d, slices.Index(d, "kubernetes")+1, "cluster")
}()

// StartCoreDNS runs a CoreDNS server with corefile until the test ends.
func StartCoreDNS(t testing.TB, corefile string) *caddy.Instance {
	t.Helper()
	if err := dnsserver.SetDirectives(directives); err != nil {
		t.Fatal(err)
	}
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), ServerTypeName: "dns"})
	if err != nil {
		t.Fatalf("start CoreDNS with\n%s\n%v", corefile, err)
	}
	t.Cleanup(func() { inst.Stop() })
	return inst
}
