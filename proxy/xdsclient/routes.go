package xdsclient

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// parseRoutes decodes and validates an RDS response (only the route
// configurations that changed).
func parseRoutes(res []*anypb.Any) (map[string]RouteConfig, error) {
	out := make(map[string]RouteConfig, len(res))
	for _, a := range res {
		m, err := unpack(RDS, a, func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} })
		if err != nil {
			return nil, err
		}
		rc, err := parseRouteConfig(m)
		if err != nil {
			return nil, err
		}
		if _, dup := out[rc.Name]; dup {
			return nil, resErr(RDS, rc.Name, ErrDuplicate)
		}
		out[rc.Name] = rc
	}
	return out, nil
}

func parseRouteConfig(m *routev3.RouteConfiguration) (RouteConfig, error) {
	name := m.GetName()
	if err := checkProto(RDS, name, m); err != nil {
		return RouteConfig{}, err
	}
	rc := RouteConfig{Name: name, VirtualHosts: make([]VirtualHost, 0, len(m.GetVirtualHosts()))}
	for _, vh := range m.GetVirtualHosts() {
		v := VirtualHost{Name: vh.GetName(), Domains: append([]string(nil), vh.GetDomains()...)}
		for i, r := range vh.GetRoutes() {
			var out Route
			switch p := r.GetMatch().GetPathSpecifier().(type) {
			case *routev3.RouteMatch_Prefix:
				out.Prefix = p.Prefix
			case *routev3.RouteMatch_Path:
				out.Path = p.Path
			default:
				return rc, resErr(RDS, name, fmt.Errorf("%w: virtual host %q route %d: only prefix and path matches are supported", ErrUnsupported, vh.GetName(), i))
			}
			out.Cluster = r.GetRoute().GetCluster()
			if out.Cluster == "" {
				return rc, resErr(RDS, name, fmt.Errorf("%w: virtual host %q route %d: no single cluster to route to", ErrUnsupported, vh.GetName(), i))
			}
			v.Routes = append(v.Routes, out)
		}
		rc.VirtualHosts = append(rc.VirtualHosts, v)
	}
	return rc, nil
}
