package translate

import (
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// udpRoute returns the cluster and idle timeout of a UDP outbound listener.
func udpRoute(t *testing.T, l *listenerv3.Listener) (string, time.Duration) {
	t.Helper()
	if len(l.FilterChains) != 0 || len(l.ListenerFilters) != 1 || l.ListenerFilters[0].Name != UDPProxyFilterName {
		t.Fatalf("%s: want no filter chains and one %s listener filter, got %v", l.Name, UDPProxyFilterName, l)
	}
	cfg := &udpproxyv3.UdpProxyConfig{}
	if err := l.ListenerFilters[0].GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatalf("%s: %v", l.Name, err)
	}
	r := &udpproxyv3.Route{}
	if err := cfg.GetMatcher().GetOnNoMatch().GetAction().GetTypedConfig().UnmarshalTo(r); err != nil {
		t.Fatalf("%s: matcher on_no_match action: %v", l.Name, err)
	}
	return r.Cluster, cfg.GetIdleTimeout().AsDuration()
}

func TestUDPPort(t *testing.T) {
	res := Translate(&View{Services: []Service{kubeDNS()}})
	for _, m := range messages(res) {
		validateAll(t, m)
	}

	var names []string
	for _, l := range res.Outbound {
		names = append(names, l.Name)
	}
	if len(names) != 2 || names[0] != "10.96.0.53_53" || names[1] != "10.96.0.53_53/udp" {
		t.Fatalf("outbound listeners %v, want 10.96.0.53_53 and 10.96.0.53_53/udp", names)
	}
	tcp, udp := res.Outbound[0], res.Outbound[1]
	if sa := udp.GetAddress().GetSocketAddress(); sa.GetProtocol() != corev3.SocketAddress_UDP || sa.GetAddress() != "10.96.0.53" || sa.GetPortValue() != 53 {
		t.Errorf("UDP listener address %v", sa)
	}
	if sa := tcp.GetAddress().GetSocketAddress(); sa.GetProtocol() != corev3.SocketAddress_TCP || sa.GetPortValue() != 53 {
		t.Errorf("TCP listener address %v", sa)
	}
	cluster, idle := udpRoute(t, udp)
	if cluster != "kube-dns.kube-system.svc.cluster.local:53/udp" || idle != UDPIdleTimeout {
		t.Errorf("UDP proxy to %q idle %v", cluster, idle)
	}

	// Clusters and assignments: one each per protocol, distinct names.
	if len(res.Clusters) != 2 || res.Clusters[0].Name != "kube-dns.kube-system.svc.cluster.local:53" || res.Clusters[1].Name != cluster {
		t.Fatalf("clusters %v", res.Clusters)
	}
	wantPort := map[string]struct {
		port  uint32
		proto corev3.SocketAddress_Protocol
	}{
		"kube-dns.kube-system.svc.cluster.local:53":     {5354, corev3.SocketAddress_TCP},
		"kube-dns.kube-system.svc.cluster.local:53/udp": {5353, corev3.SocketAddress_UDP},
	}
	if len(res.Endpoints) != 2 {
		t.Fatalf("got %d assignments, want 2", len(res.Endpoints))
	}
	for _, cla := range res.Endpoints {
		want, ok := wantPort[cla.ClusterName]
		if !ok {
			t.Fatalf("unexpected assignment %s", cla.ClusterName)
		}
		if len(cla.Endpoints) != 2 {
			t.Errorf("%s: %d localities, want 2", cla.ClusterName, len(cla.Endpoints))
		}
		for _, loc := range cla.Endpoints {
			sa := loc.LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress()
			if sa.GetPortValue() != want.port || sa.GetProtocol() != want.proto {
				t.Errorf("%s: endpoint %v, want port %d %v", cla.ClusterName, sa, want.port, want.proto)
			}
		}
	}

	// Proxyless gRPC gets the TCP port only, exactly as without the UDP port.
	tcpOnly := kubeDNS()
	tcpOnly.Service.Spec.Ports = tcpOnly.Service.Spec.Ports[1:]
	want := Translate(&View{Services: []Service{tcpOnly}})
	if len(res.Listeners) != 1 || len(res.Routes) != 1 {
		t.Fatalf("%d ApiListeners and %d routes, want 1 each", len(res.Listeners), len(res.Routes))
	}
	if !proto.Equal(res.Listeners[0], want.Listeners[0]) || !proto.Equal(res.Routes[0], want.Routes[0]) {
		t.Error("a UDP port changed the ApiListener or route of the TCP port")
	}
	if !proto.Equal(tcp, want.Outbound[0]) || !proto.Equal(res.Clusters[0], want.Clusters[0]) || !proto.Equal(res.Endpoints[0], want.Endpoints[0]) {
		t.Error("a UDP port changed the TCP port's outbound listener, cluster or assignment")
	}
}

func TestUDPEndpointsMatchProtocol(t *testing.T) {
	// A slice port of the right name but the wrong protocol is not the
	// UDP port's: the assignment is empty rather than pointing at TCP.
	s := Service{
		Service: service("ns", "syslog", "10.96.0.9", svcPort("log", 514, corev1.ProtocolUDP)),
		Slices: []*discoveryv1.EndpointSlice{slice("ns", "syslog-a",
			[]discoveryv1.EndpointPort{slicePortOf("log", 514)}, readyEP("10.4.0.1", ""))},
	}
	res := Translate(&View{Services: []Service{s}})
	if len(res.Endpoints) != 1 || len(res.Endpoints[0].Endpoints) != 0 {
		t.Errorf("UDP port matched a TCP slice port: %v", res.Endpoints)
	}
	if len(res.Listeners) != 0 || len(res.Routes) != 0 || len(res.Outbound) != 1 || len(res.Clusters) != 1 {
		t.Errorf("UDP-only service: %d api listeners, %d routes, %d outbound, %d clusters; want 0, 0, 1, 1",
			len(res.Listeners), len(res.Routes), len(res.Outbound), len(res.Clusters))
	}
	if got := Translate(&View{Services: []Service{headlessUDP()}}); len(messages(got)) != 0 {
		t.Errorf("headless UDP service got %d resources, want 0", len(messages(got)))
	}
}
