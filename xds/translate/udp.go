package translate

import (
	"net/netip"
	"time"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	corev1 "k8s.io/api/core/v1"
)

// UDPProxyFilterName is the name Envoy knows its UDP proxy listener filter by.
const UDPProxyFilterName = "envoy.filters.udp_listener.udp_proxy"

// UDPIdleTimeout is how long a UDP flow (one client address) lives without a
// datagram either way: Linux conntrack's default for unreplied-or-not UDP
// (nf_conntrack_udp_timeout), which is what iptables kube-proxy gives, and
// half Envoy's own 60 s default.
const UDPIdleTimeout = 30 * time.Second

// udpSuffix tells the resources of a UDP port from those of the TCP port
// with the same number (kube-dns has both 53/TCP and 53/UDP), in the
// services(5) notation "53/udp". TCP names carry no suffix, so they are
// unchanged and remain valid gRPC targets.
const udpSuffix = "/udp"

// UDPResourceName is the name of the Cluster and ClusterLoadAssignment of
// a UDP Service port: ResourceName followed by "/udp".
func UDPResourceName(name, namespace, domain string, port int32) string {
	return ResourceName(name, namespace, domain, port) + udpSuffix
}

// OutboundUDPName is the name of the outbound UDP Listener for vip:port:
// OutboundName followed by "/udp".
func OutboundUDPName(vip netip.Addr, port int32) string {
	return OutboundName(vip, port) + udpSuffix
}

// udpPort reports whether a Service port carries UDP. UDP ports get
// resources only on a cluster IP: there is nothing for a proxyless gRPC
// client to dial over UDP, and a headless Service has no VIP to listen on.
func udpPort(p corev1.ServicePort) bool {
	return p.Protocol == corev1.ProtocolUDP
}

// clusterIP returns the Service's cluster IP, if it has one.
func clusterIP(svc *corev1.Service) (netip.Addr, bool) {
	vip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	return vip, err == nil // "None" (headless) or not allocated yet
}

func udpPortName(svc *corev1.Service, p corev1.ServicePort, domain string) string {
	return UDPResourceName(svc.Name, svc.Namespace, domain, p.Port)
}

// udpListener binds vip:port over UDP with Envoy's UDP proxy as its only
// listener filter. A UDP listener has no filter chains. The cluster is
// given by a matcher that matches nothing but falls through to it, the
// form that replaced the deprecated cluster field.
func udpListener(svc *corev1.Service, p corev1.ServicePort, vip netip.Addr, domain string) *listenerv3.Listener {
	name := udpPortName(svc, p, domain)
	cfg := &udpproxyv3.UdpProxyConfig{
		StatPrefix: name,
		RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &matcherv3.Matcher{
			OnNoMatch: &matcherv3.Matcher_OnMatch{OnMatch: &matcherv3.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{Name: "route", TypedConfig: typed(&udpproxyv3.Route{Cluster: name})},
			}},
		}},
		IdleTimeout: durationpb.New(UDPIdleTimeout),
	}
	return &listenerv3.Listener{
		Name: OutboundUDPName(vip, p.Port),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Protocol:      corev3.SocketAddress_UDP,
			Address:       vip.String(),
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p.Port)},
		}}},
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		Freebind:         wrapperspb.Bool(true),
		ListenerFilters: []*listenerv3.ListenerFilter{{
			Name:       UDPProxyFilterName,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: typed(cfg)},
		}},
	}
}

// protocolOf is the protocol of a Service port as endpoint addresses carry it.
func protocolOf(p corev1.ServicePort) corev3.SocketAddress_Protocol {
	if udpPort(p) {
		return corev3.SocketAddress_UDP
	}
	return corev3.SocketAddress_TCP
}
