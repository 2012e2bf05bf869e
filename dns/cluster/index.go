package cluster

import (
	"net/netip"

	"github.com/miekg/dns"
)

// nodeFlags say how a name answers beyond the records it holds. CoreDNS's
// kubernetes plugin decides NXDOMAIN and NODATA per query type in ways that
// are not simply "the name exists"; the flags record those ways.
type nodeFlags uint8

const (
	// txtNX: TXT is NXDOMAIN here (CoreDNS finds no object at an empty
	// non-terminal such as <ns>.svc.<zone>), every other type NODATA.
	txtNX nodeFlags = 1 << iota
	// onlyTXT: dns-version.<zone>; every other type is NXDOMAIN.
	onlyTXT
	// onlyPTR: a reverse name; every other type is NXDOMAIN.
	onlyPTR
	// apex: the zone itself, where SOA and NS live.
	apex
)

// node is everything one name answers. Records are shared by every index
// that holds the node and never modified: a query copies the ones it
// returns, setting the owner to the name as asked.
type node struct {
	flags  nodeFlags
	a      []*dns.A
	aaaa   []*dns.AAAA
	srv    []*dns.SRV // Weight is the node's weight, set when copied
	weight uint16
	// xa and xaaaa are the SRV targets' addresses (the additional section),
	// owned by the target names.
	xa    []*dns.A
	xaaaa []*dns.AAAA
	ptr   []*dns.PTR
	cname string // an ExternalName's target
	txt   *dns.TXT
}

// Feed positions in index.revs.
const (
	feedServices = iota
	feedEndpointSlices
	feedNamespaces
	feedPods
	numFeeds
)

// index is one immutable view of the answers. It is replaced, never changed.
type index struct {
	// names maps a lower-case FQDN to what it answers.
	names *nameMap
	// exposed are the namespaces that exist and are answered.
	exposed map[string]bool
	// pods maps a pod IP to the namespaces of the running pods that have it
	// (pods verified, autopath).
	pods   map[netip.Addr][]string
	serial uint32
	// revs is, per feed, the etcd revision of the last event included.
	revs [numFeeds]int64
}

// lookup returns the node of the lower-case name key.
func (x *index) lookup(key string) *node { return x.names.get(key) }

// copyOwned returns copies of the records in src renamed to owner (the
// query's spelling), in one allocation for the records and one for the slice.
func copyOwned[T any, P interface {
	*T
	dns.RR
}](src []P, owner string) []dns.RR {
	if len(src) == 0 {
		return nil
	}
	vals := make([]T, len(src))
	out := make([]dns.RR, len(src))
	for i, rr := range src {
		vals[i] = *rr
		rec := P(&vals[i])
		rec.Header().Name = owner
		out[i] = rec
	}
	return out
}

// copySRV returns n's SRV records owned by owner and their targets'
// addresses. Targets are named in the zone as the query spelled it (zone is
// the lower-case zone, qzone the query's spelling), as CoreDNS does.
func copySRV(n *node, owner, zone, qzone string) (answer, extra []dns.RR) {
	if len(n.srv) == 0 {
		return nil, nil
	}
	vals := make([]dns.SRV, len(n.srv))
	answer = make([]dns.RR, len(n.srv))
	for i, rr := range n.srv {
		vals[i] = *rr
		vals[i].Hdr.Name = owner
		vals[i].Weight = n.weight
		vals[i].Target = rezone(rr.Target, zone, qzone)
		answer[i] = &vals[i]
	}
	extra = make([]dns.RR, 0, len(n.xa)+len(n.xaaaa))
	if len(n.xa) > 0 {
		as := make([]dns.A, len(n.xa))
		for i, rr := range n.xa {
			as[i] = *rr
			as[i].Hdr.Name = rezone(rr.Hdr.Name, zone, qzone)
			extra = append(extra, &as[i])
		}
	}
	if len(n.xaaaa) > 0 {
		as := make([]dns.AAAA, len(n.xaaaa))
		for i, rr := range n.xaaaa {
			as[i] = *rr
			as[i].Hdr.Name = rezone(rr.Hdr.Name, zone, qzone)
			extra = append(extra, &as[i])
		}
	}
	return answer, extra
}

// rezone spells the zone suffix of name (built in zone) as qzone.
func rezone(name, zone, qzone string) string {
	if zone == qzone || len(name) < len(zone) || zone == "." {
		return name
	}
	return name[:len(name)-len(zone)] + qzone
}
