package xdsclient

import (
	"errors"
	"strconv"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func pack(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func sockAddr(ip string, port uint32, p corev3.SocketAddress_Protocol) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol: p, Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

func listener(t *testing.T, name string, addr *corev3.Address, filters ...proto.Message) *listenerv3.Listener {
	l := &listenerv3.Listener{Name: name, Address: addr}
	if filters != nil {
		fc := &listenerv3.FilterChain{}
		for _, f := range filters {
			fc.Filters = append(fc.Filters, &listenerv3.Filter{Name: "f", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: pack(t, f)}})
		}
		l.FilterChains = []*listenerv3.FilterChain{fc}
	}
	return l
}

func hcmRDS(route string) *hcmv3.HttpConnectionManager {
	return &hcmv3.HttpConnectionManager{StatPrefix: "x", RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
		ConfigSource: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}, RouteConfigName: route}}}
}

func tcpProxy(cluster string) *tcpproxyv3.TcpProxy {
	return &tcpproxyv3.TcpProxy{StatPrefix: "x", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}}
}

func TestParseListeners(t *testing.T) {
	vip := sockAddr("10.96.0.1", 80, corev3.SocketAddress_TCP)
	for _, tc := range []struct {
		name string
		in   []proto.Message
		want *Listener // when valid: the first listener
		err  error
	}{
		{"http", []proto.Message{listener(t, "a", vip, hcmRDS("r"))}, &Listener{Name: "a", Route: "r"}, nil},
		{"tcp", []proto.Message{listener(t, "a", vip, tcpProxy("c"))}, &Listener{Name: "a", Cluster: "c"}, nil},
		{"udp", []proto.Message{listener(t, "a", sockAddr("10.96.0.1", 80, corev3.SocketAddress_UDP), tcpProxy("c"))}, &Listener{Name: "a", Protocol: UDP, Cluster: "c"}, nil},
		{"no address", []proto.Message{listener(t, "a", nil, tcpProxy("c"))}, nil, ErrNoAddress},
		{"bad ip", []proto.Message{listener(t, "a", sockAddr("web", 80, 0), tcpProxy("c"))}, nil, ErrMalformed},
		{"no filter chain", []proto.Message{listener(t, "a", vip)}, nil, ErrFilterChain},
		{"two filters", []proto.Message{listener(t, "a", vip, tcpProxy("c"), tcpProxy("d"))}, nil, ErrFilterChain},
		{"inline routes", []proto.Message{listener(t, "a", vip, &hcmv3.HttpConnectionManager{StatPrefix: "x",
			RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{}}})}, nil, ErrUnsupported},
		{"weighted tcp", []proto.Message{listener(t, "a", vip, &tcpproxyv3.TcpProxy{StatPrefix: "x",
			ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{
				Clusters: []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{{Name: "c", Weight: 1}}}}})}, nil, ErrUnsupported},
		{"other filter", []proto.Message{listener(t, "a", vip, &routev3.RouteConfiguration{})}, nil, ErrUnsupported},
		{"proto invalid", []proto.Message{listener(t, "a", vip, &tcpproxyv3.TcpProxy{ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "c"}})}, nil, ErrMalformed},
		{"same address", []proto.Message{listener(t, "a", vip, tcpProxy("c")), listener(t, "b", vip, tcpProxy("c"))}, nil, ErrAddressInUse},
		{"same name", []proto.Message{listener(t, "a", vip, tcpProxy("c")), listener(t, "a", sockAddr("10.96.0.2", 80, 0), tcpProxy("c"))}, nil, ErrDuplicate},
		{"wrong type", []proto.Message{&clusterv3.Cluster{Name: "a"}}, nil, errUnexpectedType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res []*anypb.Any
			for _, m := range tc.in {
				res = append(res, pack(t, m))
			}
			got, err := parseListeners(res)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				if re := (*ResourceError)(nil); tc.err != errUnexpectedType && (!errors.As(err, &re) || re.Name == "") {
					t.Errorf("error %v does not name the listener", err)
				}
				return
			}
			l := got[tc.want.Name]
			l.Addr = tc.want.Addr
			if l != *tc.want {
				t.Errorf("got %+v, want %+v", got[tc.want.Name], *tc.want)
			}
		})
	}
}

func TestParseRoutes(t *testing.T) {
	route := func(m *routev3.RouteMatch, a *routev3.RouteAction) *routev3.RouteConfiguration {
		return &routev3.RouteConfiguration{Name: "r", VirtualHosts: []*routev3.VirtualHost{{Name: "vh", Domains: []string{"*"},
			Routes: []*routev3.Route{{Match: m, Action: &routev3.Route_Route{Route: a}}}}}}
	}
	prefix := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/api"}}
	toC := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "unknown-is-fine"}}
	for _, tc := range []struct {
		name string
		in   *routev3.RouteConfiguration
		want Route
		err  error
	}{
		{"prefix", route(prefix, toC), Route{Prefix: "/api", Cluster: "unknown-is-fine"}, nil},
		{"path", route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/x"}}, toC), Route{Path: "/x", Cluster: "unknown-is-fine"}, nil},
		{"regex", route(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/a"}}, toC), Route{}, ErrUnsupported},
		{"weighted", route(prefix, &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
			Clusters: []*routev3.WeightedCluster_ClusterWeight{{Name: "c", Weight: wrapperspb.UInt32(1)}}}}}), Route{}, ErrUnsupported},
		{"no match", route(nil, toC), Route{}, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRoutes([]*anypb.Any{pack(t, tc.in)})
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil && got["r"].VirtualHosts[0].Routes[0] != tc.want {
				t.Errorf("got %+v, want %+v", got["r"], tc.want)
			}
		})
	}
}

func TestParseClustersAndEndpoints(t *testing.T) {
	if _, err := parseClusters([]*anypb.Any{pack(t, &clusterv3.Cluster{Name: "s", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}})}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("static cluster: %v", err)
	}
	cs, err := parseClusters([]*anypb.Any{pack(t, &clusterv3.Cluster{Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}})})
	if err != nil || cs["c"].EDSName != "c" || cs["c"].LRS || cs["c"].LegacyLBPolicy != "ROUND_ROBIN" {
		t.Errorf("plain EDS cluster: %+v, %v", cs["c"], err)
	}

	lbe := func(ip string, port uint32, w uint32, h corev3.HealthStatus) *endpointv3.LbEndpoint {
		e := &endpointv3.LbEndpoint{HealthStatus: h, HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(ip, port, 0)}}}
		if w > 0 {
			e.LoadBalancingWeight = wrapperspb.UInt32(w)
		}
		return e
	}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{
		{LoadBalancingWeight: wrapperspb.UInt32(7), LbEndpoints: []*endpointv3.LbEndpoint{lbe("10.1.0.1", 80, 0, corev3.HealthStatus_DRAINING)}},
		{LbEndpoints: []*endpointv3.LbEndpoint{lbe("10.1.0.2", 80, 3, corev3.HealthStatus_HEALTHY), lbe("fd00::1", 80, 0, corev3.HealthStatus_UNKNOWN)}},
	}}
	es, err := parseEndpoints([]*anypb.Any{pack(t, cla)})
	if err != nil {
		t.Fatal(err)
	}
	want := "[{10.1.0.1:80 7 DRAINING   } {10.1.0.2:80 3 HEALTHY   } {[fd00::1]:80 1 UNKNOWN   }]"
	if got := fmtEndpoints(es["c"]); got != want {
		t.Errorf("endpoints\n got %s\nwant %s", got, want)
	}
	cla.Endpoints[0].LbEndpoints[0] = lbe("10.1.0.1", 0, 0, 0)
	if _, err := parseEndpoints([]*anypb.Any{pack(t, cla)}); !errors.Is(err, ErrMalformed) {
		t.Errorf("port 0: %v", err)
	}

	// A discovery Resource wrapper is unwrapped.
	w := &discoveryv3.Resource{Name: "c", Resource: pack(t, &clusterv3.Cluster{Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}})}
	if cs, err := parseClusters([]*anypb.Any{pack(t, w)}); err != nil || cs["c"].Name != "c" {
		t.Errorf("wrapped cluster: %+v, %v", cs, err)
	}
}

func fmtEndpoints(es []Endpoint) string {
	out := "["
	for i, e := range es {
		if i > 0 {
			out += " "
		}
		out += "{" + e.Addr.String() + " " + strconv.Itoa(int(e.Weight)) + " " + e.Health.String() + " " + e.Region + " " + e.Zone + " " + e.SubZone + "}"
	}
	return out + "]"
}
