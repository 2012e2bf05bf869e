package loadreport

import (
	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/xdsclient"
)

// FromSnapshot returns the ClusterInfo of every cluster of s that has a
// balancer in balancers (the proxy's, by cluster name). Neither argument is
// kept or changed; the result shares s's endpoint slices, which are
// immutable.
func FromSnapshot(s *xdsclient.Snapshot, balancers map[string]*balancer.Balancer) map[string]ClusterInfo {
	if s == nil {
		return nil
	}
	out := make(map[string]ClusterInfo, len(balancers))
	for name, b := range balancers {
		cl, ok := s.Clusters[name]
		if !ok || b == nil {
			continue
		}
		out[name] = ClusterInfo{EDSName: cl.EDSName, LRS: cl.LRS, Endpoints: s.Endpoints[cl.EDSName], Balancer: b}
	}
	return out
}
