package cluster

import (
	"net/netip"

	"github.com/coredns/coredns/request"
)

// AutoPath implements autopath.AutoPather (`autopath @cluster`): the search
// path of the pod that sent the query, found by its address, ending in ""
// as autopath requires; nil (no autopath) for a client that is not a known
// pod or a query outside the zones. As in CoreDNS it needs `pods verified`,
// the only mode in which the plugin watches pods.
func (c *Cluster) AutoPath(state request.Request) []string {
	z, ok := c.match(lowerName(state.Name()))
	if !ok || c.cfg.Pods != PodsVerified {
		return nil
	}
	idx := c.index.Load()
	if idx == nil {
		return nil
	}
	ip, err := netip.ParseAddr(state.IP())
	if err != nil {
		return nil
	}
	nss := idx.pods[ip.Unmap()]
	if len(nss) == 0 {
		return nil
	}
	search := make([]string, 0, 4+len(c.search))
	if z.name == "." {
		search = append(search, nss[0]+".svc.", "svc.", ".")
	} else {
		search = append(search, nss[0]+".svc."+z.name, "svc."+z.name, z.name)
	}
	search = append(search, c.search...)
	return append(search, "")
}
