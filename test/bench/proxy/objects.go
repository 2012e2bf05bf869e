package main

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

const (
	namespace   = "default"
	serviceName = "web"
	servicePort = 80
	backendPort = 8080
	// managedBy marks the hand-written slice as not the EndpointSlice
	// controller's (the Service has no selector anyway).
	managedBy = "bench.shoal.dev"
)

// backendIPs are the three backends' addresses, all on loopback (the
// whole of 127.0.0.0/8 is routed to lo).
var backendIPs = []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}

func backendAddrs() []string {
	out := make([]string, len(backendIPs))
	for i, ip := range backendIPs {
		out[i] = netip.AddrPortFrom(netip.MustParseAddr(ip), backendPort).String()
	}
	return out
}

// createService creates the selector-less Service web (port http 80 →
// 8080) and its one EndpointSlice of the three ready backends, and returns
// the ClusterIP the API server gave it (clusterIP if that is not empty).
func createService(ctx context.Context, cs kubernetes.Interface, clusterIP string) (netip.Addr, error) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: clusterIP,
			Ports: []corev1.ServicePort{{
				Name: "http", Port: servicePort, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(backendPort),
			}},
		},
	}
	created, err := cs.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("create service %s: %w", serviceName, err)
	}
	vip, err := netip.ParseAddr(created.Spec.ClusterIP)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service %s: clusterIP %q: %w", serviceName, created.Spec.ClusterIP, err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName + "-1", Labels: map[string]string{
			discoveryv1.LabelServiceName: serviceName,
			discoveryv1.LabelManagedBy:   managedBy,
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo[int32](backendPort), Protocol: ptrTo(corev1.ProtocolTCP)}},
	}
	for _, ip := range backendIPs {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)},
		})
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return netip.Addr{}, fmt.Errorf("create endpointslice %s: %w", slice.Name, err)
	}
	return vip, nil
}

func ptrTo[T any](v T) *T { return &v }
