package cluster

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fixture is the registry content the conformance and differential tests
// query: every kind of service the specification names, and pods.
type fixture struct {
	namespaces []*corev1.Namespace
	services   []*corev1.Service
	slices     []*discoveryv1.EndpointSlice
	pods       []*corev1.Pod
}

func newFixture() fixture {
	var f fixture
	f.namespaces = []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "testns"}}}
	svcPort := func(name string, p int32, proto corev1.Protocol) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: p, Protocol: proto, TargetPort: intstr.FromInt32(p)}
	}
	svc := func(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	ext := func(name, target string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "testns", Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target}}
	}
	f.services = []*corev1.Service{
		// ClusterIP, several named ports, endpoints (one not ready).
		svc("testns", "svc1", "10.96.0.100", svcPort("http", 80, corev1.ProtocolTCP), svcPort("https", 443, corev1.ProtocolTCP), svcPort("dns", 53, corev1.ProtocolUDP)),
		// ClusterIP, one unnamed port and no endpoints.
		svc("testns", "noeps", "10.96.0.101", svcPort("", 8080, corev1.ProtocolTCP)),
		// Headless with hostnames, an address without one, a not-ready one and IPv6.
		svc("testns", "hdls1", corev1.ClusterIPNone, svcPort("http", 80, corev1.ProtocolTCP), svcPort("c-port", 1234, corev1.ProtocolUDP)),
		// Headless without endpoints.
		svc("testns", "hdlsempty", corev1.ClusterIPNone, svcPort("http", 80, corev1.ProtocolTCP)),
		// Headless publishing not-ready addresses: the slice marks them ready.
		svc("testns", "pubnr", corev1.ClusterIPNone),
		ext("ext", "ext.interwebs.test"),
		ext("extin", "svc1.testns.svc.cluster.local"),
		// The cluster DNS service: ns.dns.<zone> takes its address.
		svc("kube-system", "kube-dns", "10.96.0.10", svcPort("dns", 53, corev1.ProtocolUDP), svcPort("dns-tcp", 53, corev1.ProtocolTCP)),
		// Headless whose endpoints share a name (one per address family) and
		// an address (in two slices), with one port number twice.
		svc("testns", "dup", corev1.ClusterIPNone, svcPort("dns", 53, corev1.ProtocolUDP), svcPort("dns-tcp", 53, corev1.ProtocolTCP)),
		// Headless with more endpoints than fit in 512 bytes.
		svc("testns", "many", corev1.ClusterIPNone, svcPort("http", 80, corev1.ProtocolTCP)),
	}
	f.services[4].Spec.PublishNotReadyAddresses = true

	yes, no := true, false
	str := func(s string) *string { return &s }
	proto := func(p corev1.Protocol) *corev1.Protocol { return &p }
	num := func(n int32) *int32 { return &n }
	slice := func(name, service string, af discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: "testns", Name: name,
				Labels: map[string]string{discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "shoal-test"}},
			AddressType: af, Ports: ports, Endpoints: eps,
		}
	}
	ep := func(ip string, ready *bool, host *string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Hostname: host, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	withPod := func(e discoveryv1.Endpoint, pod string) discoveryv1.Endpoint {
		e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: "testns", Name: pod}
		return e
	}
	hdlsPorts := []discoveryv1.EndpointPort{
		{Name: str("http"), Port: num(80), Protocol: proto(corev1.ProtocolTCP)},
		{Name: str("c-port"), Port: num(1234), Protocol: proto(corev1.ProtocolUDP)},
	}
	dupPorts := []discoveryv1.EndpointPort{
		{Name: str("dns"), Port: num(53), Protocol: proto(corev1.ProtocolUDP)},
		{Name: str("dns-tcp"), Port: num(53), Protocol: proto(corev1.ProtocolTCP)},
	}
	var many []discoveryv1.Endpoint
	for i := range 20 {
		many = append(many, ep(fmt.Sprintf("172.16.5.%d", i+1), &yes, nil))
	}
	f.slices = []*discoveryv1.EndpointSlice{
		slice("svc1-a", "svc1", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{{Name: str("http"), Port: num(8080), Protocol: proto(corev1.ProtocolTCP)}},
			ep("172.16.0.1", &yes, nil), withPod(ep("172.16.0.2", nil, nil), "web-1"), ep("172.16.0.9", &no, nil)),
		slice("hdls1-a", "hdls1", discoveryv1.AddressTypeIPv4, hdlsPorts,
			ep("172.16.1.1", &yes, str("hdls1-0")), ep("172.16.1.2", &yes, nil), ep("172.16.1.3", &no, str("hdls1-2"))),
		slice("hdls1-b", "hdls1", discoveryv1.AddressTypeIPv6, hdlsPorts,
			ep("fd00::1", &yes, str("hdls1-6"))),
		slice("pubnr-a", "pubnr", discoveryv1.AddressTypeIPv4, nil,
			ep("172.16.3.1", &yes, str("starting"))),
		slice("dup-a", "dup", discoveryv1.AddressTypeIPv4, dupPorts,
			ep("172.16.4.1", &yes, str("same")), ep("172.16.4.2", nil, nil)),
		slice("dup-b", "dup", discoveryv1.AddressTypeIPv6, dupPorts,
			ep("fd00::4", &yes, str("same"))),
		slice("dup-c", "dup", discoveryv1.AddressTypeIPv4, dupPorts,
			ep("172.16.4.2", &yes, str("other"))),
		slice("many-a", "many", discoveryv1.AddressTypeIPv4, hdlsPorts[:1], many...),
	}
	f.pods = []*corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "testns", Name: "pod1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"sleep", "3600"}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "172.16.2.5",
			PodIPs: []corev1.PodIP{{IP: "172.16.2.5"}}},
	}}
	return f
}
