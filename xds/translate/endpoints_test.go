package translate

import (
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
			want:    map[string]string{"10.0.0.1:8080": "HEALTHY/1", "10.0.0.2:8080": "HEALTHY/40", "10.0.0.3:8080": "HEALTHY/1", "10.0.0.4:8080": "HEALTHY/65536"},
		},
		{
			name: "duplicate across slices keeps the healthiest",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "a", grpcPort, ep("10.0.0.1", "", false, true, true)),
				slice("ns", "b", grpcPort, readyEP("10.0.0.1", "")),
			},
			want: map[string]string{"10.0.0.1:8080": "HEALTHY/1"},
		},
		{
			name: "slices without the port name, FQDN slices and bad addresses are skipped",
			slices: []*discoveryv1.EndpointSlice{
				slice("ns", "a", []discoveryv1.EndpointPort{slicePortOf("other", 9999)}, readyEP("10.0.0.1", "")),
				{AddressType: discoveryv1.AddressTypeFQDN, Ports: grpcPort, Endpoints: []discoveryv1.Endpoint{readyEP("example.com", "")}},
				slice("ns", "c", grpcPort, readyEP("not-an-ip", ""), readyEP("fd00::1", ""), discoveryv1.Endpoint{}),
				nil,
			},
			want: map[string]string{"fd00::1:8080": "HEALTHY/1"},
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

func TestLocalityWeightIsHealthySum(t *testing.T) {
	s := multiPort()
	clas := Endpoints(s, &View{Weights: map[string]uint32{"10.1.0.1": 5, "10.1.0.4": 100}})
	// zone-a: 10.1.0.1 (5) + 10.1.0.2 (1) healthy; 10.1.0.4 draining does not count.
	if got := clas[0].Endpoints[0].GetLoadBalancingWeight().GetValue(); got != 6 {
		t.Errorf("zone-a weight = %d, want 6", got)
	}
	// A locality of only draining endpoints still gets weight 1.
	s.Slices = s.Slices[:1]
	s.Slices[0].Endpoints = s.Slices[0].Endpoints[2:]
	clas = Endpoints(s, nil)
	if got := clas[0].Endpoints[0].GetLoadBalancingWeight().GetValue(); got != 1 {
		t.Errorf("draining-only locality weight = %d, want 1", got)
	}
}
