package translate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// messages lists every resource of res in a fixed order.
func messages(res *Resources) []proto.Message {
	var out []proto.Message
	for _, m := range res.Listeners {
		out = append(out, m)
	}
	for _, m := range res.Outbound {
		out = append(out, m)
	}
	for _, m := range res.Routes {
		out = append(out, m)
	}
	for _, m := range res.Clusters {
		out = append(out, m)
	}
	for _, m := range res.Endpoints {
		out = append(out, m)
	}
	return out
}

// render is the golden form of res: protojson re-indented by encoding/json,
// because protojson deliberately varies its whitespace between builds.
func render(t *testing.T, res *Resources) []byte {
	t.Helper()
	kinds := []struct {
		Kind      string
		Resources []json.RawMessage
	}{{"listeners", []json.RawMessage{}}, {"outbound", []json.RawMessage{}}, {"routes", []json.RawMessage{}}, {"clusters", []json.RawMessage{}}, {"endpoints", []json.RawMessage{}}}
	add := func(i int, m proto.Message) {
		b, err := protojson.Marshal(m)
		if err != nil {
			t.Fatalf("protojson %T: %v", m, err)
		}
		kinds[i].Resources = append(kinds[i].Resources, b)
	}
	for _, m := range res.Listeners {
		add(0, m)
	}
	for _, m := range res.Outbound {
		add(1, m)
	}
	for _, m := range res.Routes {
		add(2, m)
	}
	for _, m := range res.Clusters {
		add(3, m)
	}
	for _, m := range res.Endpoints {
		add(4, m)
	}
	out, err := json.MarshalIndent(kinds, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		svc  Service
	}{
		{"multi_port", multiPort()},
		{"headless", headless()},
		{"no_endpoints", noEndpoints()},
		{"external_name", externalName()},
		{"kube_dns", kubeDNS()},
		{"headless_udp", headlessUDP()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, Translate(&View{Services: []Service{tc.svc}}))
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from translation (run with -update if intended):\n%s", path, got)
			}
		})
	}
}

// validateAll runs Validate on m and on every message packed in an Any
// inside it, since proto-gen-validate does not look into Any fields.
func validateAll(t *testing.T, m proto.Message) {
	t.Helper()
	if v, ok := m.(interface{ Validate() error }); !ok {
		t.Errorf("%T has no Validate method", m)
	} else if err := v.Validate(); err != nil {
		t.Errorf("%T: %v", m, err)
	}
	var walk func(protoreflect.Message)
	walk = func(r protoreflect.Message) {
		if a, ok := r.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				t.Errorf("unpack %s: %v", a.TypeUrl, err)
				return
			}
			validateAll(t, inner)
			return
		}
		r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := range v.List().Len() {
					walk(v.List().Get(i).Message())
				}
			case fd.IsMap():
				// No map fields in generated resources carry Any.
			case fd.Message() != nil:
				walk(v.Message())
			}
			return true
		})
	}
	walk(m.ProtoReflect())
}

func TestValidate(t *testing.T) {
	res := Translate(&View{Services: allServices(), Weights: map[string]uint32{"10.1.0.1": 7, "10.1.0.2": 1 << 30}})
	msgs := messages(res)
	// 5 TCP ports × 4 kinds + 4 TCP ports with a cluster IP, and 2 UDP
	// ports with a cluster IP × 3 kinds (listener, cluster, assignment).
	if len(msgs) != 30 {
		t.Fatalf("got %d resources, want 30", len(msgs))
	}
	for _, m := range msgs {
		validateAll(t, m)
	}
}

// TestGRPCRequirements checks what grpc-go needs but no Validate enforces.
func TestGRPCRequirements(t *testing.T) {
	res := Translate(&View{Services: allServices()})
	// UDP ports add clusters and assignments but no ApiListeners or
	// routes; leave those out so that the kinds line up by index again.
	tcpOnly := func(name string) bool { return !strings.HasSuffix(name, "/udp") }
	res.Clusters = slices.DeleteFunc(res.Clusters, func(c *clusterv3.Cluster) bool { return !tcpOnly(c.Name) })
	res.Endpoints = slices.DeleteFunc(res.Endpoints, func(c *endpointv3.ClusterLoadAssignment) bool { return !tcpOnly(c.ClusterName) })
	if len(res.Listeners) != len(res.Clusters) || len(res.Listeners) != len(res.Routes) || len(res.Listeners) != len(res.Endpoints) {
		t.Fatalf("%d ApiListeners, %d routes, %d TCP clusters, %d TCP assignments", len(res.Listeners), len(res.Routes), len(res.Clusters), len(res.Endpoints))
	}
	for i, l := range res.Listeners {
		if l.Name != res.Clusters[i].Name || l.Name != res.Routes[i].Name || l.Name != res.Endpoints[i].ClusterName {
			t.Errorf("names differ: listener %q cluster %q route %q eds %q", l.Name, res.Clusters[i].Name, res.Routes[i].Name, res.Endpoints[i].ClusterName)
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := l.GetApiListener().GetApiListener().UnmarshalTo(hcm); err != nil {
			t.Fatalf("%s: api_listener: %v", l.Name, err)
		}
		f := hcm.HttpFilters
		if len(f) == 0 || f[len(f)-1].Name != RouterFilterName || f[len(f)-1].GetTypedConfig() == nil {
			t.Errorf("%s: filters must end in the router with typed_config: %v", l.Name, f)
		}
		rc := hcm.GetRouteConfig()
		if rc == nil || !proto.Equal(rc, res.Routes[i]) {
			t.Errorf("%s: inline route config differs from RDS one", l.Name)
		}
		if d := rc.GetVirtualHosts()[0].GetDomains(); len(d) == 0 || d[0] != l.Name {
			t.Errorf("%s: domains %v do not start with the target", l.Name, d)
		}
		c := res.Clusters[i]
		if c.GetType().String() != "EDS" || c.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
			t.Errorf("%s: cluster must be EDS over ADS", c.Name)
		}
		if c.LbPolicy != 0 {
			t.Errorf("%s: legacy lb_policy %v set", c.Name, c.LbPolicy)
		}
		var names []string
		for _, p := range c.GetLoadBalancingPolicy().GetPolicies() {
			names = append(names, string(p.GetTypedExtensionConfig().GetTypedConfig().MessageName()))
		}
		want := []string{
			"envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality",
			"envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
			"envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: policies %v, want %v", c.Name, names, want)
		}
		for _, loc := range res.Endpoints[i].Endpoints {
			if loc.Locality == nil || loc.GetLoadBalancingWeight().GetValue() == 0 {
				t.Errorf("%s: locality %v without weight", c.Name, loc.Locality)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	weights := map[string]uint32{"10.1.0.1": 3, "10.1.0.2": 5, "10.2.0.1": 2}
	first := Translate(&View{Services: allServices(), Weights: weights})
	reversed := allServices()
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	for range 5 {
		again := Translate(&View{Services: reversed, Weights: weights})
		if !bytes.Equal(render(t, first), render(t, again)) {
			t.Fatal("protojson differs between runs")
		}
		a, b := messages(first), messages(again)
		for i := range a {
			x, _ := proto.MarshalOptions{Deterministic: true}.Marshal(a[i])
			y, _ := proto.MarshalOptions{Deterministic: true}.Marshal(b[i])
			if !bytes.Equal(x, y) {
				t.Fatalf("wire bytes of %T differ between runs", a[i])
			}
		}
	}
}

// TestEndpointChangeIsLocal checks that an endpoint change to one Service
// changes only that Service's ClusterLoadAssignments, so the server can push
// just those.
func TestEndpointChangeIsLocal(t *testing.T) {
	before := Translate(&View{Services: allServices()})
	svcs := allServices()
	changed := multiPort()
	changed.Slices[1] = slice("shop", "web-def", changed.Slices[1].Ports, readyEP("10.1.0.2", "zone-a"), readyEP("10.1.0.5", "zone-b"))
	svcs[0] = changed
	after := Translate(&View{Services: svcs, Weights: map[string]uint32{"10.1.0.3": 4}})

	for i := range before.Listeners {
		if !proto.Equal(before.Listeners[i], after.Listeners[i]) || !proto.Equal(before.Routes[i], after.Routes[i]) || !proto.Equal(before.Clusters[i], after.Clusters[i]) {
			t.Errorf("%s: listener, route or cluster changed on an endpoint change", before.Listeners[i].Name)
		}
	}
	isWeb := map[string]bool{"web.shop.svc.cluster.local:80": true, "web.shop.svc.cluster.local:9090": true, "web.shop.svc.cluster.local:53/udp": true}
	for i, b := range before.Endpoints {
		a := after.Endpoints[i]
		switch eq := proto.Equal(b, a); {
		case isWeb[b.ClusterName] && eq:
			t.Errorf("%s: assignment did not change", b.ClusterName)
		case !isWeb[b.ClusterName] && !eq:
			t.Errorf("%s: assignment of an unchanged service changed", b.ClusterName)
		}
	}
	if n := countHealthy(after.Endpoints, "web.shop.svc.cluster.local:9090"); n != 4 {
		t.Errorf("web:9090 healthy endpoints = %d, want 4", n)
	}
}

func countHealthy(clas []*endpointv3.ClusterLoadAssignment, name string) int {
	n := 0
	for _, c := range clas {
		if c.ClusterName != name {
			continue
		}
		for _, l := range c.Endpoints {
			for _, e := range l.LbEndpoints {
				if e.HealthStatus.String() == "HEALTHY" {
					n++
				}
			}
		}
	}
	return n
}
