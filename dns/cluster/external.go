package cluster

import (
	"context"

	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// maxChain is how many CNAMEs an answer follows, as in CoreDNS.
const maxChain = 10

// chase answers an A or AAAA query for an ExternalName service: the CNAME
// and the target's addresses, from this zone when the target is in it and
// from upstream (the server's plugin chain, as CoreDNS's upstream does)
// otherwise. A target that does not resolve leaves NODATA, as in CoreDNS.
func (c *Cluster) chase(ctx context.Context, state request.Request, idx *index, z zoneInfo, qname, key string, qtype uint16, target string, chain []dns.RR) answer {
	tkey := lowerName(target)
	if inZone(tkey, key) {
		return answer{} // x CNAME x (or a name below x) is a loop
	}
	cn := c.cname(qname, target)
	if len(chain) > maxChain || dnsutil.DuplicateCNAME(cn, chain) {
		return answer{}
	}
	if inZone(tkey, z.name) {
		next := c.lookup(ctx, state, idx, z, target, tkey, target[len(target)-len(z.name):], qtype, append(chain[:len(chain):len(chain)], cn))
		if next.nx || len(next.answer) == 0 {
			return answer{}
		}
		return answer{answer: append([]dns.RR{cn}, next.answer...), tc: next.tc}
	}
	if c.Upstream == nil {
		return answer{}
	}
	m, err := c.Upstream.Lookup(ctx, state, target, qtype)
	if err != nil || m == nil {
		return answer{}
	}
	return answer{answer: append([]dns.RR{cn}, m.Answer...), tc: m.Truncated}
}
