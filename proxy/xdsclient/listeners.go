package xdsclient

import (
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// parseListeners decodes and validates a full LDS response.
func parseListeners(res []*anypb.Any) (map[string]Listener, error) {
	out := make(map[string]Listener, len(res))
	byAddr := make(map[string]string, len(res))
	for _, a := range res {
		m, err := unpack(LDS, a, func() *listenerv3.Listener { return &listenerv3.Listener{} })
		if err != nil {
			return nil, err
		}
		l, err := parseListener(m)
		if err != nil {
			return nil, err
		}
		if _, dup := out[l.Name]; dup {
			return nil, resErr(LDS, l.Name, ErrDuplicate)
		}
		key := l.Protocol.String() + " " + l.Addr.String()
		if other, ok := byAddr[key]; ok {
			return nil, resErr(LDS, l.Name, fmt.Errorf("%w %s: %s", ErrAddressInUse, other, key))
		}
		byAddr[key] = l.Name
		out[l.Name] = l
	}
	return out, nil
}

func parseListener(m *listenerv3.Listener) (Listener, error) {
	name := m.GetName()
	if err := checkProto(LDS, name, m); err != nil {
		return Listener{}, err
	}
	l := Listener{Name: name}
	sa := m.GetAddress().GetSocketAddress()
	if sa == nil {
		return l, resErr(LDS, name, ErrNoAddress)
	}
	ip, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return l, resErr(LDS, name, fmt.Errorf("%w: address %q: %w", ErrMalformed, sa.GetAddress(), err))
	}
	port := sa.GetPortValue()
	if port == 0 || port > 65535 {
		return l, resErr(LDS, name, fmt.Errorf("%w: port %d (named ports are not supported)", ErrMalformed, port))
	}
	l.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	if sa.GetProtocol() == corev3.SocketAddress_UDP {
		l.Protocol = UDP
		return parseUDPListener(m, l)
	}
	fcs := m.GetFilterChains()
	if len(fcs) != 1 || len(fcs[0].GetFilters()) != 1 {
		return l, resErr(LDS, name, ErrFilterChain)
	}
	f := fcs[0].GetFilters()[0]
	cfg, err := filterConfig(f.GetName(), f.GetTypedConfig())
	if err != nil {
		return l, resErr(LDS, name, err)
	}
	switch c := cfg.(type) {
	case *hcmv3.HttpConnectionManager:
		rds := c.GetRds()
		if rds == nil || rds.GetRouteConfigName() == "" {
			return l, resErr(LDS, name, fmt.Errorf("%w: http_connection_manager without an RDS route_config_name", ErrUnsupported))
		}
		l.Route = rds.GetRouteConfigName()
	case *tcpproxyv3.TcpProxy:
		if c.GetCluster() == "" {
			return l, resErr(LDS, name, fmt.Errorf("%w: tcp_proxy without a single cluster", ErrUnsupported))
		}
		l.Cluster = c.GetCluster()
	default:
		return l, resErr(LDS, name, fmt.Errorf("%w: filter %q of type %s", ErrUnsupported, f.GetName(), f.GetTypedConfig().GetTypeUrl()))
	}
	return l, nil
}

// parseUDPListener reads a UDP listener as Envoy has it: no filter chains
// and one listener filter, a udp_proxy to a single cluster, given either by
// the deprecated cluster field or by a matcher that only falls through
// (on_no_match) to a udp_proxy Route.
func parseUDPListener(m *listenerv3.Listener, l Listener) (Listener, error) {
	name := m.GetName()
	lfs := m.GetListenerFilters()
	if len(m.GetFilterChains()) != 0 || len(lfs) != 1 {
		return l, resErr(LDS, name, ErrUDPFilter)
	}
	f := lfs[0]
	cfg, err := filterConfig(f.GetName(), f.GetTypedConfig())
	if err != nil {
		return l, resErr(LDS, name, err)
	}
	c, ok := cfg.(*udpproxyv3.UdpProxyConfig)
	if !ok {
		return l, resErr(LDS, name, fmt.Errorf("%w: listener filter %q of type %s", ErrUnsupported, f.GetName(), f.GetTypedConfig().GetTypeUrl()))
	}
	l.Cluster = c.GetCluster()
	if mt := c.GetMatcher(); mt != nil {
		l.Cluster = ""
		if mt.GetMatcherType() == nil {
			r := &udpproxyv3.Route{}
			if a := mt.GetOnNoMatch().GetAction().GetTypedConfig(); a != nil && a.UnmarshalTo(r) == nil {
				l.Cluster = r.GetCluster()
			}
		}
	}
	if l.Cluster == "" {
		return l, resErr(LDS, name, fmt.Errorf("%w: udp_proxy without a single cluster", ErrUnsupported))
	}
	if d := c.GetIdleTimeout(); d != nil {
		l.IdleTimeout = d.AsDuration()
	}
	return l, nil
}

// filterConfig unpacks and validates a (listener) filter's typed_config.
// Listener.Validate stops at the Any; the filter's config has rules of its
// own.
func filterConfig(name string, tc *anypb.Any) (proto.Message, error) {
	if tc == nil {
		return nil, fmt.Errorf("%w: filter %q has no typed_config", ErrMalformed, name)
	}
	cfg, err := tc.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("%w: filter %q: %w", ErrMalformed, name, err)
	}
	if v, ok := cfg.(validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("%w: filter %q: %w", ErrMalformed, name, err)
		}
	}
	return cfg, nil
}
