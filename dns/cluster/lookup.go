package cluster

import (
	"context"
	"strings"

	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// answer is the outcome of a lookup: NXDOMAIN, or records (none: NODATA).
type answer struct {
	nx     bool
	answer []dns.RR
	extra  []dns.RR
	tc     bool
}

// lookup answers qname (key in lower case, qzone the zone as spelled in
// qname) of type qtype in zone z from idx. chain holds the CNAMEs followed
// so far when resolving an ExternalName's target.
func (c *Cluster) lookup(ctx context.Context, state request.Request, idx *index, z zoneInfo, qname, key, qzone string, qtype uint16, chain []dns.RR) answer {
	if qtype == dns.TypeSOA {
		// CoreDNS answers SOA at the apex and NODATA for any other name.
		if key == z.name {
			return answer{answer: []dns.RR{c.soa(qzone, idx.serial)}}
		}
		return answer{}
	}
	n := idx.lookup(key)
	if n == nil && !z.reverse {
		if alt := portName(key, z.name); alt != "" {
			n = idx.lookup(alt)
		}
	}
	if n == nil {
		if !z.reverse {
			if a, ok := c.pod(idx, z, qname, key, qzone, qtype); ok {
				return a
			}
		}
		return answer{nx: true}
	}
	if n.flags&onlyTXT != 0 && qtype != dns.TypeTXT || n.flags&onlyPTR != 0 && qtype != dns.TypePTR {
		return answer{nx: true}
	}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		if n.cname != "" {
			return c.chase(ctx, state, idx, z, qname, key, qtype, n.cname, chain)
		}
		if qtype == dns.TypeA {
			return answer{answer: copyOwned(n.a, qname)}
		}
		return answer{answer: copyOwned(n.aaaa, qname)}
	case dns.TypeSRV:
		a, x := copySRV(n, qname, z.name, qzone)
		return answer{answer: a, extra: x}
	case dns.TypeTXT:
		if n.txt != nil {
			t := *n.txt
			t.Hdr.Name = qname
			return answer{answer: []dns.RR{&t}}
		}
		if n.flags&txtNX != 0 {
			return answer{nx: true}
		}
	case dns.TypeCNAME:
		if n.cname != "" {
			return answer{answer: []dns.RR{c.cname(qname, n.cname)}}
		}
	case dns.TypePTR:
		if len(n.ptr) > 0 {
			return answer{answer: copyOwned(n.ptr, qname)}
		}
	case dns.TypeNS:
		if n.flags&apex != 0 {
			return c.nameservers(idx, z, qname, qzone)
		}
	}
	return answer{}
}

// nameservers is the apex NS answer: ns.dns.<zone> and its addresses.
func (c *Cluster) nameservers(idx *index, z zoneInfo, qname, qzone string) answer {
	target := dnsutil.Join("ns.dns", qzone)
	ns := &dns.NS{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: c.cfg.TTL}, Ns: target}
	var extra []dns.RR
	if n := idx.lookup(join(z.name, "ns", "dns")); n != nil {
		extra = append(copyOwned(n.a, target), copyOwned(n.aaaa, target)...)
	}
	return answer{answer: []dns.RR{ns}, extra: extra}
}

func (c *Cluster) cname(owner, target string) *dns.CNAME {
	return &dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: c.cfg.TTL}, Target: target}
}

// portName is the index name of an SRV-style query that CoreDNS also
// accepts without underscores (http.tcp.web.ns.svc.<zone>), or "".
// The empty port or protocol (a bare `_` label), which CoreDNS treats as
// "any", is not answered.
func portName(key, zone string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(key, zone), ".")
	if !strings.HasSuffix(base, ".svc") || strings.Count(base, ".") != 4 {
		return "" // most misses (a search path's guesses) end here, without allocating
	}
	labels := strings.Split(base, ".")
	p, q := strings.TrimPrefix(labels[0], "_"), strings.TrimPrefix(labels[1], "_")
	if p == "" || q == "" || labels[0] == "_"+p && labels[1] == "_"+q {
		return ""
	}
	return join(zone, "_"+p, "_"+q, labels[2], labels[3], "svc")
}
