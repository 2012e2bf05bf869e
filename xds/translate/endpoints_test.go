package translate

import (
	"fmt"
	"strconv"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestHealth(t *testing.T) {
	tests := []struct {
		name                        string
		ready, serving, terminating *bool
		want                        corev3.HealthStatus
		ok                          bool
	}{
		{"ready", ptr(true), ptr(true), ptr(false), corev3.HealthStatus_HEALTHY, true},
		{"all unset counts as ready", nil, nil, nil, corev3.HealthStatus_HEALTHY, true},
		{"not ready", ptr(false), ptr(false), ptr(false), 0, false},
		{"not ready, serving unset", ptr(false), nil, nil, 0, false},
		{"terminating and serving", ptr(false), ptr(true), ptr(true), corev3.HealthStatus_DRAINING, true},
		{"terminating, not serving", ptr(false), ptr(false), ptr(true), 0, false},
		{"terminating, ready claimed", ptr(true), ptr(true), ptr(true), corev3.HealthStatus_DRAINING, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := health(discoveryv1.EndpointConditions{Ready: tc.ready, Serving: tc.serving, Terminating: tc.terminating})
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("health = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// endpointsOf flattens the assignment of the only port of s to
// "ip:port" → "status/weight".
func endpointsOf(t *testing.T, s Service, v *View) map[string]string {
	t.Helper()
	clas := Endpoints(s, v)
	if len(clas) != 1 {
		t.Fatalf("got %d assignments, want 1", len(clas))
	}
	out := map[string]string{}
	for _, loc := range clas[0].Endpoints {
		for _, e := range loc.LbEndpoints {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			key := sa.GetAddress() + ":" + strconv.FormatUint(uint64(sa.GetPortValue()), 10)
			out[key] = e.HealthStatus.String() + "/" + strconv.FormatUint(uint64(e.GetLoadBalancingWeight().GetValue()), 10)
		}
	}
	return out
}

func TestEndpoints(t *testing.T) {
	svc := service("ns", "s", "10.96.0.1", svcPort("grpc", 80, corev1.ProtocolTCP))
	grpcPort := []discoveryv1.EndpointPort{slicePortOf("grpc", 8080)}
	tests := []struct {
		name    string
		slices  []*discoveryv1.EndpointSlice
		weights map[string]uint32
		want    map[string]string
	}{
		{
			name:    "weights: default, set, zero, capped",
			slices:  []*discoveryv1.EndpointSlice{slice("ns", "a", grpcPort, readyEP("10.0.0.1", ""), readyEP("10.0.0.2", ""), readyEP("10.0.0.3", ""), readyEP("10.0.0.4", ""))},
			weights: map[string]uint32{"10.0.0.2": 40, "10.0.0.3": 0, "10.0.0.4": 1 << 31},
			want:    map[string]string{"10.0.0.1:8080": "HEALTHY/100", "10.0.0.2:8080": "HEALTHY/40", "10.0.0.3:8080": "HEALTHY/100", "10.0.0.4:8080": "HEALTHY/65536"},
		},
		{
			name: "duplicate across slices keeps the healthiest",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "a", grpcPort, ep("10.0.0.1", "", false, true, true)),
				slice("ns", "b", grpcPort, readyEP("10.0.0.1", "")),
			},
			want: map[string]string{"10.0.0.1:8080": "HEALTHY/100"},
		},
		{
			name: "slices without the port name, FQDN slices and bad addresses are skipped",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "a", []discoveryv1.EndpointPort{slicePortOf("other", 9999)}, readyEP("10.0.0.1", "")),
				{AddressType: discoveryv1.AddressTypeFQDN, Ports: grpcPort, Endpoints: []discoveryv1.Endpoint{readyEP("example.com", "")}},
				slice("ns", "c", grpcPort, readyEP("not-an-ip", ""), readyEP("fd00::1", ""), discoveryv1.Endpoint{}),
				nil,
			},
			want: map[string]string{"fd00::1:8080": "HEALTHY/100"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := endpointsOf(t, Service{Service: svc, Slices: tc.slices}, &View{Weights: tc.weights})
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], w, got)
				}
			}
			for _, cla := range Endpoints(Service{Service: svc, Slices: tc.slices}, &View{Weights: tc.weights}) {
				validateAll(t, cla)
			}
		})
	}
}

// TestLocalityPerEndpoint checks that every endpoint is its own locality
// (sub_zone = IP, zone from the slice) weighted like the endpoint, which is
// what lets grpc-go follow the weights and attribute its load reports.
func TestLocalityPerEndpoint(t *testing.T) {
	s := multiPort()
	clas := Endpoints(s, &View{Weights: map[string]uint32{"10.1.0.1": 5, "10.1.0.4": 7}})
	want := map[string]string{ // sub_zone → zone/weight/status
		"10.1.0.1": "zone-a/5/HEALTHY", "10.1.0.2": "zone-a/100/HEALTHY", "10.1.0.4": "zone-a/7/DRAINING", "10.1.0.3": "zone-b/100/HEALTHY",
	}
	for _, cla := range clas {
		if len(cla.Endpoints) != len(want) {
			t.Fatalf("%s: %d localities, want %d", cla.ClusterName, len(cla.Endpoints), len(want))
		}
		for _, loc := range cla.Endpoints {
			if len(loc.LbEndpoints) != 1 {
				t.Fatalf("%s: locality %v has %d endpoints", cla.ClusterName, loc.Locality, len(loc.LbEndpoints))
			}
			e := loc.LbEndpoints[0]
			ip := e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
			got := fmt.Sprintf("%s/%d/%s", loc.Locality.Zone, loc.GetLoadBalancingWeight().GetValue(), e.HealthStatus)
			if loc.Locality.SubZone != ip || loc.Locality.Region != DefaultRegion || got != want[ip] {
				t.Errorf("%s: locality %v weight %d for %s; want sub_zone %s and %s", cla.ClusterName, loc.Locality, loc.GetLoadBalancingWeight().GetValue(), ip, ip, want[ip])
			}
			if e.GetLoadBalancingWeight().GetValue() != loc.GetLoadBalancingWeight().GetValue() {
				t.Errorf("%s: endpoint and locality weights differ", ip)
			}
		}
	}
}
