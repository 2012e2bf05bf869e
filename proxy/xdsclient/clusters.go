package xdsclient

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// parseClusters decodes and validates a full CDS response.
func parseClusters(res []*anypb.Any) (map[string]Cluster, error) {
	out := make(map[string]Cluster, len(res))
	for _, a := range res {
		m, err := unpack(CDS, a, func() *clusterv3.Cluster { return &clusterv3.Cluster{} })
		if err != nil {
			return nil, err
		}
		c, err := parseCluster(m)
		if err != nil {
			return nil, err
		}
		if _, dup := out[c.Name]; dup {
			return nil, resErr(CDS, c.Name, ErrDuplicate)
		}
		out[c.Name] = c
	}
	return out, nil
}

func parseCluster(m *clusterv3.Cluster) (Cluster, error) {
	name := m.GetName()
	if err := checkProto(CDS, name, m); err != nil {
		return Cluster{}, err
	}
	if m.GetType() != clusterv3.Cluster_EDS {
		return Cluster{}, resErr(CDS, name, fmt.Errorf("%w: cluster type %s (only EDS)", ErrUnsupported, m.GetType()))
	}
	c := Cluster{Name: name, EDSName: m.GetEdsClusterConfig().GetServiceName(), LRS: m.GetLrsServer().GetSelf() != nil}
	if c.EDSName == "" {
		c.EDSName = name
	}
	for _, p := range m.GetLoadBalancingPolicy().GetPolicies() {
		c.LBPolicies = append(c.LBPolicies, p.GetTypedExtensionConfig().GetName())
	}
	if len(c.LBPolicies) == 0 {
		c.LegacyLBPolicy = m.GetLbPolicy().String()
	}
	return c, nil
}
