package table

import (
	"fmt"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// webEndpointSlice has five ready endpoints and two named ports.
func webEndpointSlice() *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-x7k2p", Namespace: "default", CreationTimestamp: ago(5 * time.Minute),
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr("http"), Port: ptr[int32](80)},
			{Name: ptr("https"), Port: ptr[int32](443)},
		},
	}
	for i := 1; i <= 5; i++ {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.244.1.%d", i)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
		})
	}
	return es
}

func TestEndpointSliceRows(t *testing.T) {
	gk := schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}
	tests := []struct {
		name string
		es   func() *discoveryv1.EndpointSlice
		want []any // NAME ADDRESSTYPE PORTS ENDPOINTS AGE
	}{
		{"five endpoints", webEndpointSlice,
			[]any{"web-x7k2p", "IPv4", "80,443", "10.244.1.1,10.244.1.2,10.244.1.3 + 2 more...", "5m"}},
		{"empty", func() *discoveryv1.EndpointSlice {
			es := webEndpointSlice()
			es.Ports, es.Endpoints = nil, nil
			return es
		}, []any{"web-x7k2p", "IPv4", "<unset>", "<unset>", "5m"}},
		{"port by name, any port, more than three", func() *discoveryv1.EndpointSlice {
			es := webEndpointSlice()
			es.AddressType = discoveryv1.AddressTypeIPv6
			es.Ports = []discoveryv1.EndpointPort{{Name: ptr("dns")}, {}, {Port: ptr[int32](53)}, {Port: ptr[int32](9153)}}
			es.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"fd00::1", "fd00::2"}}, {Addresses: []string{"fd00::3"}}}
			return es
		}, []any{"web-x7k2p", "IPv6", "dns,*,53 + 1 more...", "fd00::1,fd00::2,fd00::3", "5m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, gk, tt.es()), tt.want)
		})
	}
}
