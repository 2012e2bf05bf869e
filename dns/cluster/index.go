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
	// apex: the zone itself, where SOA and NS live.
	apex
)

// node is what one name in the index answers: a service's base name
// (<svc>.<ns>.svc.<zone>, whose named ports and endpoint names are found
// through it), or one of the names every zone has.
type node struct {
	flags nodeFlags
	svc   *entry
	addrs []netip.Addr // ns.dns.<zone>: the nameserver's addresses
	txt   *dns.TXT     // dns-version.<zone>
}

// entry is what one service answers, the same under every forward zone:
// records are made from it per query, without copying. It is rebuilt when
// the service or one of its slices changes, never changed.
type entry struct {
	owner    *owner
	kind     serviceKind
	external string       // an ExternalName's target
	ips      []netip.Addr // cluster IPs
	ports    []port       // the service's ports
	// slices are the service's slices with ready endpoints, by name.
	slices []*slice
	// uniqueIP and uniqueHost: no address, no host name, appears twice
	// among the endpoints, so answers need no de-duplication.
	uniqueIP, uniqueHost bool
}

// owner names a service: its namespace, name and "ns/name" key, by which
// PTR claims are ordered.
type owner struct{ key, ns, name string }

// ptrClaim is a service's claim on the PTR record of an address: its
// cluster IP (host "", which wins) or one of its endpoints. CoreDNS names an
// endpoint's address after the slice's service label whether or not that
// service exists.
type ptrClaim struct {
	owner *owner
	host  string
}

// ipKey is an address as the PTR map keys it: netip.Addr.As16 of the
// unmapped address (an IPv4-mapped IPv6 address is never a key).
type ipKey [16]byte

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
	names *shardMap[string, *node]
	// ptrs maps an address to the claims on its PTR record, ordered by
	// service key (and, within a service, cluster IPs first).
	ptrs *shardMap[ipKey, []ptrClaim]
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
func (x *index) lookup(key string) *node {
	n, _ := x.names.get(key)
	return n
}
