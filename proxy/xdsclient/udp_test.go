package xdsclient

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoalmesh/shoal/xds/translate"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// dns is a cluster DNS service: 53 over UDP and over TCP, one pod.
func dns() translate.Service {
	svc := xdstest.Service("kube-system", "kube-dns", 53, "")
	svc.Spec.ClusterIP = "10.96.0.10"
	svc.Spec.Ports = []corev1.ServicePort{
		{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
		{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
	}
	sl := xdstest.Slice("kube-system", "kube-dns", 53, map[string]bool{"10.1.0.53": true})
	sl.Ports = []discoveryv1.EndpointPort{
		{Name: ptr("dns"), Port: ptr(int32(5353)), Protocol: ptr(corev1.ProtocolUDP)},
		{Name: ptr("dns-tcp"), Port: ptr(int32(53)), Protocol: ptr(corev1.ProtocolTCP)},
	}
	return translate.Service{Service: svc, Slices: []*discoveryv1.EndpointSlice{sl}}
}

// TestUDPServiceOverADS checks that what the translation makes of a UDP
// port is accepted whole, next to the TCP port of the same number.
func TestUDPServiceOverADS(t *testing.T) {
	srv := xdstest.StartServer(t, "127.0.0.1:0")
	srv.Feed(t, dns())
	rec := newRecorder()
	startClient(t, srv.Addr, rec)

	const udpName, tcpName = "kube-dns.kube-system.svc.cluster.local:53/udp", "kube-dns.kube-system.svc.cluster.local:53"
	s := rec.await(t, "both DNS clusters' endpoints", func(s *Snapshot) bool { return len(s.Endpoints) == 2 })
	want := map[string]Listener{
		"10.96.0.10_53":     {Name: "10.96.0.10_53", Addr: netip.MustParseAddrPort("10.96.0.10:53"), Cluster: tcpName},
		"10.96.0.10_53/udp": {Name: "10.96.0.10_53/udp", Addr: netip.MustParseAddrPort("10.96.0.10:53"), Protocol: UDP, Cluster: udpName, IdleTimeout: 30 * time.Second},
	}
	if fmt.Sprint(s.Listeners) != fmt.Sprint(want) {
		t.Errorf("listeners:\n got %+v\nwant %+v", s.Listeners, want)
	}
	if got := fmt.Sprint(endpointsOf(s, udpName)); got != "[10.1.0.53:5353]" {
		t.Errorf("UDP endpoints %s", got)
	}
	if got := fmt.Sprint(endpointsOf(s, tcpName)); got != "[10.1.0.53:53]" {
		t.Errorf("TCP endpoints %s", got)
	}
}
