package xdsclient

import (
	"errors"
	"strconv"
	"testing"
	"time"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
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

// udpListener is a UDP listener as Envoy has it: listener filters, no
// filter chains.
func udpListener(t *testing.T, name string, addr *corev3.Address, filters ...proto.Message) *listenerv3.Listener {
	l := &listenerv3.Listener{Name: name, Address: addr}
	for _, f := range filters {
		l.ListenerFilters = append(l.ListenerFilters, &listenerv3.ListenerFilter{Name: "envoy.filters.udp_listener.udp_proxy",
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: pack(t, f)}})
	}
	return l
}

// udpProxyMatcher is what Shoal's translation sends: a matcher that only
// falls through to the cluster.
func udpProxyMatcher(t *testing.T, cluster string) *udpproxyv3.UdpProxyConfig {
	return &udpproxyv3.UdpProxyConfig{StatPrefix: "x", IdleTimeout: durationpb.New(30 * time.Second),
		RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &matcherv3.Matcher{
			OnNoMatch: &matcherv3.Matcher_OnMatch{OnMatch: &matcherv3.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{Name: "route", TypedConfig: pack(t, &udpproxyv3.Route{Cluster: cluster})}}}}}}
}

// udpProxySourceMatcher routes by source IP, which the proxy does not do.
func udpProxySourceMatcher(t *testing.T) *udpproxyv3.UdpProxyConfig {
	c := udpProxyMatcher(t, "fallback")
	c.GetMatcher().MatcherType = &matcherv3.Matcher_MatcherTree_{MatcherTree: &matcherv3.Matcher_MatcherTree{
		Input: &xdscorev3.TypedExtensionConfig{Name: "source-ip", TypedConfig: pack(t, &routev3.RouteConfiguration{})},
		TreeType: &matcherv3.Matcher_MatcherTree_ExactMatchMap{ExactMatchMap: &matcherv3.Matcher_MatcherTree_MatchMap{
			Map: map[string]*matcherv3.Matcher_OnMatch{"10.0.0.1": c.GetMatcher().GetOnNoMatch()}}},
	}}
	return c
}

func TestParseListeners(t *testing.T) {
	vip := sockAddr("10.96.0.1", 80, corev3.SocketAddress_TCP)
	udpVIP := sockAddr("10.96.0.10", 53, corev3.SocketAddress_UDP)
	for _, tc := range []struct {
		name string
		in   []proto.Message
		want *Listener // when valid: the first listener
		err  error
	}{
		{"http", []proto.Message{listener(t, "a", vip, hcmRDS("r"))}, &Listener{Name: "a", Route: "r"}, nil},
		{"tcp", []proto.Message{listener(t, "a", vip, tcpProxy("c"))}, &Listener{Name: "a", Cluster: "c"}, nil},
		{"udp matcher", []proto.Message{udpListener(t, "a", udpVIP, udpProxyMatcher(t, "c"))}, &Listener{Name: "a", Protocol: UDP, Cluster: "c", IdleTimeout: 30 * time.Second}, nil},
		{"udp cluster field", []proto.Message{udpListener(t, "a", udpVIP, &udpproxyv3.UdpProxyConfig{StatPrefix: "x",
			RouteSpecifier: &udpproxyv3.UdpProxyConfig_Cluster{Cluster: "c"}})}, &Listener{Name: "a", Protocol: UDP, Cluster: "c"}, nil},
		{"udp and tcp on one port", []proto.Message{listener(t, "a", vip, tcpProxy("c")), udpListener(t, "b", sockAddr("10.96.0.1", 80, corev3.SocketAddress_UDP), udpProxyMatcher(t, "d"))},
			&Listener{Name: "b", Protocol: UDP, Cluster: "d", IdleTimeout: 30 * time.Second}, nil},
		{"udp with filter chain", []proto.Message{listener(t, "a", udpVIP, tcpProxy("c"))}, nil, ErrUDPFilter},
		{"udp no listener filter", []proto.Message{udpListener(t, "a", udpVIP)}, nil, ErrUDPFilter},
		{"udp two listener filters", []proto.Message{udpListener(t, "a", udpVIP, udpProxyMatcher(t, "c"), udpProxyMatcher(t, "d"))}, nil, ErrUDPFilter},
		{"udp other filter", []proto.Message{udpListener(t, "a", udpVIP, tcpProxy("c"))}, nil, ErrUnsupported},
		{"udp no cluster", []proto.Message{udpListener(t, "a", udpVIP, &udpproxyv3.UdpProxyConfig{StatPrefix: "x"})}, nil, ErrMalformed},
		{"udp matcher without route", []proto.Message{udpListener(t, "a", udpVIP, &udpproxyv3.UdpProxyConfig{StatPrefix: "x",
			RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &matcherv3.Matcher{}}})}, nil, ErrUnsupported},
		{"udp matching on source", []proto.Message{udpListener(t, "a", udpVIP, udpProxySourceMatcher(t))}, nil, ErrUnsupported},
		{"udp same address", []proto.Message{udpListener(t, "a", udpVIP, udpProxyMatcher(t, "c")), udpListener(t, "b", udpVIP, udpProxyMatcher(t, "c"))}, nil, ErrAddressInUse},
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
