package translate

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func service(ns, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP, Ports: ports},
	}
}

func svcPort(name string, port int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: proto}
}

func slice(ns, name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func slicePortOf(name string, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(port), Protocol: ptr(corev1.ProtocolTCP)}
}

func ep(ip, zone string, ready, serving, terminating bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready), Serving: ptr(serving), Terminating: ptr(terminating)},
	}
	if zone != "" {
		e.Zone = ptr(zone)
	}
	return e
}

func readyEP(ip, zone string) discoveryv1.Endpoint { return ep(ip, zone, true, true, false) }

// multiPort is a ClusterIP Service with two TCP ports (target ports differ
// from service ports) and a UDP port, which gets an outbound listener, a
// cluster and an assignment but no ApiListener or route; its slices hold
// 3 ready endpoints in two zones, 1 terminating-but-serving and 1 not ready.
func multiPort() Service {
	ports := []discoveryv1.EndpointPort{slicePortOf("http", 8080), slicePortOf("grpc", 9000), {Name: ptr("dns"), Port: ptr(int32(5353)), Protocol: ptr(corev1.ProtocolUDP)}}
	return Service{
		Service: service("shop", "web", "10.96.0.10",
			svcPort("http", 80, corev1.ProtocolTCP),
			svcPort("grpc", 9090, ""),
			svcPort("dns", 53, corev1.ProtocolUDP)),
		Slices: []*discoveryv1.EndpointSlice{
			slice("shop", "web-abc", ports,
				readyEP("10.1.0.3", "zone-b"),
				readyEP("10.1.0.1", "zone-a"),
				ep("10.1.0.4", "zone-a", false, true, true), // terminating, serving
			),
			slice("shop", "web-def", ports,
				readyEP("10.1.0.2", "zone-a"),
				ep("10.1.0.5", "zone-b", false, false, false), // not ready
			),
		},
	}
}

// headless is a headless Service with one unnamed port.
func headless() Service {
	return Service{
		Service: service("data", "db", corev1.ClusterIPNone, svcPort("", 5432, corev1.ProtocolTCP)),
		Slices: []*discoveryv1.EndpointSlice{
			slice("data", "db-xyz", []discoveryv1.EndpointPort{slicePortOf("", 5432)},
				readyEP("10.2.0.2", ""), readyEP("10.2.0.1", "")),
		},
	}
}

// noEndpoints is a ClusterIP Service nothing backs yet.
func noEndpoints() Service {
	return Service{Service: service("shop", "empty", "10.96.0.11", svcPort("grpc", 50051, corev1.ProtocolTCP))}
}

func externalName() Service {
	s := service("shop", "ext", "", svcPort("https", 443, corev1.ProtocolTCP))
	s.Spec.Type = corev1.ServiceTypeExternalName
	s.Spec.ExternalName = "example.com"
	return Service{Service: s}
}

// kubeDNS is a cluster DNS Service: port 53 over both UDP and TCP, with
// target ports that differ between the two so that mixing them up shows.
func kubeDNS() Service {
	ports := []discoveryv1.EndpointPort{
		{Name: ptr("dns"), Port: ptr(int32(5353)), Protocol: ptr(corev1.ProtocolUDP)},
		{Name: ptr("dns-tcp"), Port: ptr(int32(5354)), Protocol: ptr(corev1.ProtocolTCP)},
	}
	return Service{
		Service: service("kube-system", "kube-dns", "10.96.0.53",
			svcPort("dns", 53, corev1.ProtocolUDP),
			svcPort("dns-tcp", 53, corev1.ProtocolTCP)),
		Slices: []*discoveryv1.EndpointSlice{
			slice("kube-system", "kube-dns-abc", ports, readyEP("10.3.0.1", "zone-a"), readyEP("10.3.0.2", "zone-b")),
		},
	}
}

// headlessUDP is a headless Service with a UDP port: no VIP to listen on,
// so no resources.
func headlessUDP() Service {
	return Service{
		Service: service("data", "gossip", corev1.ClusterIPNone, svcPort("gossip", 7946, corev1.ProtocolUDP)),
		Slices: []*discoveryv1.EndpointSlice{
			slice("data", "gossip-xyz", []discoveryv1.EndpointPort{{Name: ptr("gossip"), Port: ptr(int32(7946)), Protocol: ptr(corev1.ProtocolUDP)}},
				readyEP("10.2.0.9", "")),
		},
	}
}

func allServices() []Service {
	return []Service{multiPort(), headless(), noEndpoints(), externalName(), kubeDNS(), headlessUDP()}
}
