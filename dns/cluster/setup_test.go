package cluster

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		corefile string
		keys     []string // the server block's zones
		want     Config
	}{
		{corefile: `cluster`, want: Config{Zones: []string{"cluster.local."}, TTL: 5, Pods: PodsDisabled}},
		{corefile: `cluster`, keys: []string{"."}, want: Config{Zones: []string{"cluster.local."}, TTL: 5, Pods: PodsDisabled}},
		{corefile: `cluster`, keys: []string{"Cluster.Local.:53", "10.in-addr.arpa.:53"},
			want: Config{Zones: []string{"cluster.local.", "10.in-addr.arpa."}, TTL: 5, Pods: PodsDisabled}},
		{corefile: `cluster example.org in-addr.arpa {
    endpoint http://10.0.0.1:2379 https://10.0.0.2:2379
    ttl 30
    pods insecure
    endpoint_pod_names
    namespaces a b
    noendpoints
    ignore empty_service
}`, want: Config{Zones: []string{"example.org.", "in-addr.arpa."}, TTL: 30, Pods: PodsInsecure, EndpointPodNames: true,
			Namespaces: []string{"a", "b"}, NoEndpoints: true, IgnoreEmptyService: true,
			Endpoints: []string{"http://10.0.0.1:2379", "https://10.0.0.2:2379"}}},
	} {
		c := caddy.NewTestController("dns", tt.corefile)
		c.ServerBlockKeys = tt.keys
		got, err := parse(c)
		if err != nil {
			t.Errorf("%q: %v", tt.corefile, err)
			continue
		}
		if !slices.Equal(got.Zones, tt.want.Zones) || got.TTL != tt.want.TTL || got.Pods != tt.want.Pods ||
			got.EndpointPodNames != tt.want.EndpointPodNames || !slices.Equal(got.Namespaces, tt.want.Namespaces) ||
			got.NoEndpoints != tt.want.NoEndpoints || got.IgnoreEmptyService != tt.want.IgnoreEmptyService ||
			!slices.Equal(got.Endpoints, tt.want.Endpoints) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.corefile, got, tt.want)
		}
	}
}

func TestParseFallthrough(t *testing.T) {
	got, err := parse(caddy.NewTestController("dns", "cluster {\n fallthrough in-addr.arpa\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Fall.Through("svc1.testns.svc.cluster.local.") || !got.Fall.Through("1.0.0.10.in-addr.arpa.") {
		t.Errorf("fallthrough in-addr.arpa: %+v", got.Fall)
	}
}

// TestParseErrors checks that every bad Corefile is refused with the line
// that is wrong.
func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ corefile, want string }{
		{"cluster in-addr.arpa", "non-reverse zone"},
		{"cluster {\n ttl\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"cluster {\n ttl -1\n}", "Testfile:2 - Error during parsing: ttl must be"},
		{"cluster {\n ttl 3601\n}", "Testfile:2"},
		{"cluster {\n ttl five\n}", "Testfile:2"},
		{"cluster {\n\n pods all\n}", "Testfile:3 - Error during parsing: pods must be one of"},
		{"cluster {\n endpoint\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"cluster {\n endpoint 10.0.0.1:2379\n}", "Testfile:2 - Error during parsing: endpoint"},
		{"cluster {\n tls a b\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"cluster {\n tls /nonexistent/cert /nonexistent/key /nonexistent/ca\n}", "Testfile:2 - Error during parsing: tls: etcd client certificate"},
		{"cluster {\n ignore everything\n}", "Testfile:2 - Error during parsing: ignore takes"},
		{"cluster {\n namespaces\n}", "Testfile:2"},
		{"cluster {\n noendpoints please\n}", "Testfile:2"},
		{"cluster {\n kubeconfig /etc/kubeconfig\n}", `Testfile:2 - Error during parsing: unknown property "kubeconfig"`},
		{"cluster\ncluster", "this plugin"},
	} {
		_, err := parse(caddy.NewTestController("dns", tt.corefile))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.corefile, err, tt.want)
		}
	}
}

// TestSetupNeedsASource: without `endpoint` the process must have
// registered its caches.
func TestSetupNeedsASource(t *testing.T) {
	UseCaches(nil)
	err := setup(caddy.NewTestController("dns", "cluster"))
	if err == nil || !errors.Is(err, ErrNoSource) && !strings.Contains(err.Error(), ErrNoSource.Error()) {
		t.Fatalf("setup without caches: %v", err)
	}
	if !strings.Contains(err.Error(), "Testfile:1") {
		t.Errorf("error does not name the line: %v", err)
	}
}
