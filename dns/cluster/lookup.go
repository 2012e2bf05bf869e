package cluster

import (
	"context"
	"net/netip"

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
// qname) of type qtype in zone z from idx, as dns.RRs. chain holds the
// CNAMEs followed so far when resolving an ExternalName's target.
func (c *Cluster) lookup(ctx context.Context, state request.Request, idx *index, z zoneInfo, qname, key, qzone string, qtype uint16, chain []dns.RR) answer {
	if qtype == dns.TypeSOA {
		// CoreDNS answers SOA at the apex and NODATA for any other name.
		if key == z.name {
			return answer{answer: []dns.RR{c.soa(qzone, idx.serial)}}
		}
		return answer{}
	}
	h := c.find(idx, z, key)
	switch h.kind {
	case hitNX:
		return answer{nx: true}
	case hitPod:
		if a, ok := c.pod(idx, z, qname, key, qzone, qtype); ok {
			return a
		}
		return answer{nx: true}
	case hitPTR:
		if qtype != dns.TypePTR {
			return answer{nx: true} // a reverse name has nothing else
		}
		var out []dns.RR
		ptrTargets(h.ptr, func(o *owner, host string) {
			out = append(out, &dns.PTR{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: c.cfg.TTL},
				Ptr: ptrName(host, o, c.primary)})
		})
		return answer{answer: out}
	case hitNode:
		if h.n.svc == nil {
			return c.static(idx, z, h.n, qname, qzone, qtype)
		}
		if e := h.n.svc; e.kind == kindExternal {
			return c.external(ctx, state, idx, z, qname, key, qtype, e.external, chain)
		}
	}
	// A service's name, named port or endpoint name.
	rs := &rrSink{qname: qname, ttl: c.cfg.TTL, base: key[h.base:len(key)-len(z.name)] + qzone}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		h.sel.addrs(qtype == dns.TypeAAAA, rs)
	case dns.TypeSRV:
		h.sel.srvs(rs)
	}
	return answer{answer: rs.ans, extra: rs.add}
}

// static answers from one of the names every zone has.
func (c *Cluster) static(idx *index, z zoneInfo, n *node, qname, qzone string, qtype uint16) answer {
	if n.flags&onlyTXT != 0 && qtype != dns.TypeTXT {
		return answer{nx: true}
	}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		var out []dns.RR
		for _, ip := range n.addrs {
			if ip.Is6() == (qtype == dns.TypeAAAA) {
				out = append(out, addrRR(qname, ip, c.cfg.TTL))
			}
		}
		return answer{answer: out}
	case dns.TypeTXT:
		if n.txt != nil {
			t := *n.txt
			t.Hdr.Name = qname
			return answer{answer: []dns.RR{&t}}
		}
		if n.flags&txtNX != 0 {
			return answer{nx: true}
		}
	case dns.TypeNS:
		if n.flags&apex != 0 {
			return c.nameservers(idx, z, qname, qzone)
		}
	}
	return answer{}
}

// external answers an ExternalName service's name: a CNAME, followed for
// A and AAAA.
func (c *Cluster) external(ctx context.Context, state request.Request, idx *index, z zoneInfo, qname, key string, qtype uint16, target string, chain []dns.RR) answer {
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		return c.chase(ctx, state, idx, z, qname, key, qtype, target, chain)
	case dns.TypeCNAME:
		return answer{answer: []dns.RR{c.cname(qname, target)}}
	}
	return answer{}
}

// nameservers is the apex NS answer: ns.dns.<zone> and its addresses.
func (c *Cluster) nameservers(idx *index, z zoneInfo, qname, qzone string) answer {
	target := dnsutil.Join("ns.dns", qzone)
	ns := &dns.NS{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: c.cfg.TTL}, Ns: target}
	var extra []dns.RR
	if n := idx.lookup(join(z.name, "ns", "dns")); n != nil {
		for _, v6 := range [2]bool{false, true} {
			for _, ip := range n.addrs {
				if ip.Is6() == v6 {
					extra = append(extra, addrRR(target, ip, c.cfg.TTL))
				}
			}
		}
	}
	return answer{answer: []dns.RR{ns}, extra: extra}
}

func (c *Cluster) cname(owner, target string) *dns.CNAME {
	return &dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: c.cfg.TTL}, Target: target}
}

// ptrName is the name a PTR record points to: <host>.<svc>.<ns>.svc.<zone>,
// or <svc>.<ns>.svc.<zone> for host "".
func ptrName(host string, o *owner, zone string) string {
	if host == "" {
		return join(zone, o.name, o.ns, "svc")
	}
	return join(zone, host, o.name, o.ns, "svc")
}

// rrSink makes the records a selection gives: owned by the query's name,
// targets below base (the service's name, its zone as the query spells it).
type rrSink struct {
	qname, base string
	ttl         uint32
	ans, add    []dns.RR // the answer and additional sections
}

func (r *rrSink) addr(ip netip.Addr) { r.ans = append(r.ans, addrRR(r.qname, ip, r.ttl)) }

func (r *rrSink) srv(weight, port uint16, host string) {
	r.ans = append(r.ans, &dns.SRV{Hdr: dns.RR_Header{Name: r.qname, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: r.ttl},
		Weight: weight, Port: port, Target: r.target(host)})
}

func (r *rrSink) extra(host string, ip netip.Addr) {
	r.add = append(r.add, addrRR(r.target(host), ip, r.ttl))
}

func (r *rrSink) target(host string) string {
	if host == "" {
		return r.base
	}
	return host + "." + r.base
}
