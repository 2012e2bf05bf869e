package main

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

const (
	namespace = "xds-bench"
	// managedBy marks the hand-written slices as not the EndpointSlice
	// controller's, which leaves them alone (the services have no
	// selector anyway).
	managedBy   = "bench.shoal.dev"
	servicePort = 80
)

func serviceName(i int) string { return fmt.Sprintf("svc-%04d", i) }

// rolloutService has rolloutPods endpoints, all replaced in phase (c).
const rolloutService = "rollout"

// claName is the ClusterLoadAssignment (and Cluster) name of a service's
// port, as xds/translate names it.
func claName(svc string) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local:%d", svc, namespace, servicePort)
}

// ip4 is a.b plus a 16-bit index as the last two octets, skipping .0 and
// .255 in the last.
func ip4(a, b byte, i int) string {
	return netip.AddrFrom4([4]byte{a, b + byte(i/250/256), byte(i / 250 % 256), byte(i%250 + 1)}).String()
}

func createNamespace(ctx context.Context, cs kubernetes.Interface) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace: %w", err)
	}
	return nil
}

// createService creates a selector-less ClusterIP Service with one port
// and one hand-written EndpointSlice listing ips, all ready, and returns
// the slice as stored.
func createService(ctx context.Context, cs kubernetes.Interface, name string, ips []string) (*discoveryv1.EndpointSlice, error) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: "http", Port: servicePort, Protocol: corev1.ProtocolTCP,
		}}},
	}
	if _, err := cs.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create service %s: %w", name, err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Labels: map[string]string{
			discoveryv1.LabelServiceName: name,
			discoveryv1.LabelManagedBy:   managedBy,
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo[int32](8080), Protocol: ptrTo(corev1.ProtocolTCP)}},
	}
	for _, ip := range ips {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)},
		})
	}
	created, err := cs.DiscoveryV1().EndpointSlices(namespace).Create(ctx, slice, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create endpointslice %s: %w", slice.Name, err)
	}
	return created, nil
}

// loadServices creates n services with perService endpoints each on
// parallel writers and returns their slices.
func loadServices(ctx context.Context, cs kubernetes.Interface, n, perService, parallel int) ([]*discoveryv1.EndpointSlice, error) {
	slices := make([]*discoveryv1.EndpointSlice, n)
	err := benchenv.ForEach(n, parallel, func(i int) error {
		ips := make([]string, perService)
		for j := range ips {
			ips[j] = ip4(10, 200, i*perService+j)
		}
		var err error
		slices[i], err = createService(ctx, cs, serviceName(i), ips)
		return err
	})
	return slices, err
}

// replaceEndpoint writes slice with endpoint j's address changed to ip, as
// a pod being replaced would, and returns the stored slice.
func replaceEndpoint(ctx context.Context, cs kubernetes.Interface, slice *discoveryv1.EndpointSlice, j int, ip string) (*discoveryv1.EndpointSlice, error) {
	s := slice.DeepCopy()
	s.Endpoints[j].Addresses = []string{ip}
	out, err := cs.DiscoveryV1().EndpointSlices(namespace).Update(ctx, s, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update endpointslice %s: %w", s.Name, err)
	}
	return out, nil
}

func ptrTo[T any](v T) *T { return &v }
