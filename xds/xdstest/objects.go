package xdstest

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
)

// PortName is the name of the port of the Services these helpers build.
const PortName = "grpc"

// Service is a selector-less ClusterIP Service with one gRPC port; policy,
// if set, is its shoal.io/lb-policy annotation.
func Service(namespace, name string, port int32, policy string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{
			Name: PortName, Port: port, Protocol: corev1.ProtocolTCP,
		}}},
	}
	if policy != "" {
		svc.Annotations = map[string]string{api.AnnotationLBPolicy: policy}
	}
	return svc
}

// Slice is a hand-written EndpointSlice of service with the given ready
// endpoints (ip → ready) on targetPort.
func Slice(namespace, service string, targetPort int, ready map[string]bool) *discoveryv1.EndpointSlice {
	name, proto, port := PortName, corev1.ProtocolTCP, int32(targetPort)
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: service + "-manual", Labels: map[string]string{
			discoveryv1.LabelServiceName: service,
			discoveryv1.LabelManagedBy:   "xdstest",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	ips := make([]string, 0, len(ready))
	for ip := range ready {
		ips = append(ips, ip)
	}
	slices.Sort(ips)
	for _, ip := range ips {
		r := ready[ip]
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &r},
		})
	}
	return sl
}

func sortDurations(d []time.Duration) { slices.Sort(d) }
