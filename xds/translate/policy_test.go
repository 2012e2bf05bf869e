package translate

import (
	"slices"
	"strings"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/api"
)

func policyNames(t *testing.T, svc *corev1.Service) []string {
	t.Helper()
	cs := Clusters(svc, "")
	if len(cs) == 0 {
		t.Fatal("no clusters")
	}
	var names []string
	for _, p := range cs[0].GetLoadBalancingPolicy().GetPolicies() {
		names = append(names, p.GetTypedExtensionConfig().GetName())
	}
	validateAll(t, cs[0])
	return names
}

func TestLBPolicyAnnotation(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"", []string{"envoy.load_balancing_policies.wrr_locality", "envoy.load_balancing_policies.least_request", "envoy.load_balancing_policies.round_robin"}},
		{api.LBPolicyLeastLoaded, []string{"envoy.load_balancing_policies.wrr_locality", "envoy.load_balancing_policies.least_request", "envoy.load_balancing_policies.round_robin"}},
		{api.LBPolicyLeastRequest, []string{"envoy.load_balancing_policies.least_request", "envoy.load_balancing_policies.client_side_weighted_round_robin", "envoy.load_balancing_policies.round_robin"}},
		{api.LBPolicyRoundRobin, []string{"envoy.load_balancing_policies.round_robin"}},
	}
	for _, tc := range tests {
		svc := service("ns", "s", "10.96.0.1", svcPort("grpc", 80, corev1.ProtocolTCP))
		if tc.value != "" {
			svc.Annotations = map[string]string{api.AnnotationLBPolicy: tc.value}
		}
		if got := policyNames(t, svc); !slices.Equal(got, tc.want) {
			t.Errorf("%q: policies %v, want %v", tc.value, got, tc.want)
		}
	}
	if err := api.ValidateLBPolicy("fastest"); err == nil {
		t.Error("Validate accepted an unknown value")
	}
}

func TestOutboundListeners(t *testing.T) {
	ptrS := func(s string) *string { return &s }
	svc := service("shop", "web", "10.96.3.4",
		svcPort("http-main", 80, corev1.ProtocolTCP),
		corev1.ServicePort{Name: "api", Port: 81, AppProtocol: ptrS("kubernetes.io/h2c")},
		svcPort("db", 5432, ""),
		svcPort("https", 443, ""),
		svcPort("dns", 53, corev1.ProtocolUDP))
	ls := OutboundListeners(svc, "")
	if len(ls) != 5 {
		t.Fatalf("got %d listeners, want 5", len(ls))
	}
	wantHTTP := map[string]bool{"10.96.3.4_80": true, "10.96.3.4_81": true, "10.96.3.4_5432": false, "10.96.3.4_443": false}
	for _, l := range ls {
		validateAll(t, l)
		if l.Name == "10.96.3.4_53/udp" {
			continue // see TestUDPPort
		}
		http, ok := wantHTTP[l.Name]
		if !ok {
			t.Fatalf("unexpected listener %s", l.Name)
		}
		f := l.FilterChains[0].Filters[0]
		if http {
			hcm := &hcmv3.HttpConnectionManager{}
			if f.Name != HCMFilterName || f.GetTypedConfig().UnmarshalTo(hcm) != nil || hcm.GetRds().GetRouteConfigName() == "" {
				t.Errorf("%s: want an HTTP connection manager with RDS, got %s", l.Name, f.Name)
			}
		} else {
			tp := &tcpproxyv3.TcpProxy{}
			if f.Name != TCPProxyFilterName || f.GetTypedConfig().UnmarshalTo(tp) != nil || !strings.HasPrefix(tp.GetCluster(), "web.shop.svc.cluster.local:") {
				t.Errorf("%s: want a TCP proxy to the port's cluster, got %s", l.Name, f.Name)
			}
		}
	}
	if got := OutboundListeners(headless().Service, ""); len(got) != 0 {
		t.Errorf("headless service got %d outbound listeners", len(got))
	}
}
