package translate

import (
	"net/netip"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	corev1 "k8s.io/api/core/v1"
)

// Filter names Envoy knows these filters by.
const (
	HCMFilterName      = "envoy.filters.network.http_connection_manager"
	TCPProxyFilterName = "envoy.filters.network.tcp_proxy"
)

// OutboundListeners returns, for a Service with a cluster IP, one Listener
// per TCP or UDP port bound to <clusterIP>:<port>, for Envoy sidecars and
// Shoal's node proxy (Envoy accepts an ApiListener only from its bootstrap,
// never over LDS). HTTP ports (see IsHTTP) get an HTTP connection manager
// that routes through RDS, so each request is balanced; other TCP ports get
// a TCP proxy to the port's cluster, and UDP ports a UDP proxy. Listener
// names are "<clusterIP>_<port>", and "<clusterIP>_<port>/udp" for UDP.
func OutboundListeners(svc *corev1.Service, domain string) []*listenerv3.Listener {
	if !translatable(svc) {
		return nil
	}
	vip, ok := clusterIP(svc)
	if !ok {
		return nil
	}
	var out []*listenerv3.Listener
	for _, p := range svc.Spec.Ports {
		switch {
		case tcpPort(p):
			out = append(out, outboundListener(svc, p, vip, domain))
		case udpPort(p):
			out = append(out, udpListener(svc, p, vip, domain))
		}
	}
	return out
}

// OutboundName is the name of the outbound Listener for vip:port.
func OutboundName(vip netip.Addr, port int32) string {
	return vip.String() + "_" + strconv.Itoa(int(port))
}

// IsHTTP reports whether a Service port carries cleartext HTTP (or gRPC),
// by its appProtocol or, as Istio does, by its name: "http", "http2",
// "grpc" or "grpc-web", alone or followed by "-suffix". "https" is TLS,
// which a proxy must pass through whole.
func IsHTTP(p corev1.ServicePort) bool {
	if p.AppProtocol != nil {
		switch strings.ToLower(*p.AppProtocol) {
		case "http", "http2", "grpc", "kubernetes.io/h2c":
			return true
		}
		return false
	}
	for _, proto := range []string{"http", "http2", "grpc", "grpc-web"} {
		if p.Name == proto || strings.HasPrefix(p.Name, proto+"-") {
			return true
		}
	}
	return false
}

func outboundListener(svc *corev1.Service, p corev1.ServicePort, vip netip.Addr, domain string) *listenerv3.Listener {
	name := portName(svc, p, domain)
	var filter *listenerv3.Filter
	if IsHTTP(p) {
		filter = &listenerv3.Filter{Name: HCMFilterName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typed(&hcmv3.HttpConnectionManager{
			StatPrefix: name,
			RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
				ConfigSource:    adsConfigSource(),
				RouteConfigName: name,
			}},
			HttpFilters: []*hcmv3.HttpFilter{{
				Name:       RouterFilterName,
				ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typed(&routerv3.Router{})},
			}},
		})}}
	} else {
		filter = &listenerv3.Filter{Name: TCPProxyFilterName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typed(&tcpproxyv3.TcpProxy{
			StatPrefix:       name,
			ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: name},
		})}}
	}
	return &listenerv3.Listener{
		Name: OutboundName(vip, p.Port),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Protocol:      corev3.SocketAddress_TCP,
			Address:       vip.String(),
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p.Port)},
		}}},
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		// The cluster IP is usually not an address of the machine Envoy
		// runs on; freebind lets it bind anyway (Shoal's node proxy puts
		// the VIPs on an interface itself).
		Freebind:     wrapperspb.Bool(true),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{filter}}},
	}
}
