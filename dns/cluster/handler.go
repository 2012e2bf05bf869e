package cluster

import (
	"context"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// ServeDNS implements plugin.Handler. Most answers are packed straight
// from the index (wire.go); the rest are made as *dns.Msg. ServeDNS itself
// stays small: its frame is on the stack while the reply is sent, and a
// deeper stack costs each query's goroutine a stack copy.
func (c *Cluster) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if c.writeWire(w, r) {
		return dns.RcodeSuccess, nil
	}
	return c.serveMsg(ctx, w, r)
}

// serveMsg answers r with a *dns.Msg.
func (c *Cluster) serveMsg(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) == 0 {
		return dns.RcodeFormatError, nil
	}
	q := r.Question[0]
	if !dns.IsFqdn(q.Name) {
		return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
	}
	key := lowerName(q.Name)
	z, ok := c.match(key)
	if !ok {
		return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
	}
	qzone := q.Name[len(q.Name)-len(z.name):] // the zone as the query spells it
	switch {
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		responses.refused.Inc()
		return dns.RcodeRefused, nil
	case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		responses.refused.Inc()
		return dns.RcodeRefused, nil
	}
	idx := c.index.Load()
	if idx == nil {
		if c.cfg.Fall.Through(key) {
			responses.fallthrough_.Inc()
			return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
		}
		responses.servfail.Inc()
		return c.negative(w, r, dns.RcodeServerFailure, qzone, 0)
	}
	state := request.Request{W: w, Req: r}
	ans := c.lookup(ctx, state, idx, z, q.Name, key, qzone, q.Qtype, nil)
	if ans.nx {
		if c.cfg.Fall.Through(key) {
			responses.fallthrough_.Inc()
			return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
		}
		responses.nxdomain.Inc()
		return c.negative(w, r, dns.RcodeNameError, qzone, idx.serial)
	}
	if len(ans.answer) == 0 {
		responses.nodata.Inc()
		return c.negative(w, r, dns.RcodeSuccess, qzone, idx.serial)
	}
	responses.answer.Inc()
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Truncated = ans.tc
	m.Answer = ans.answer
	m.Extra = ans.extra
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// negative writes an answer without records: rcode and the zone's SOA.
func (c *Cluster) negative(w dns.ResponseWriter, r *dns.Msg, rcode int, qzone string, serial uint32) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.Authoritative = true
	m.Ns = []dns.RR{c.soa(qzone, serial)}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// soa is the zone's SOA record, named as the query spells the zone.
func (c *Cluster) soa(qzone string, serial uint32) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: qzone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: min(c.cfg.TTL, 300)},
		Ns:      dnsutil.Join("ns.dns", qzone),
		Mbox:    dnsutil.Join("hostmaster", qzone),
		Serial:  serial,
		Refresh: 7200, Retry: 1800, Expire: 86400,
		Minttl: c.cfg.TTL,
	}
}

// lowerName returns name with ASCII letters in lower case (DNS compares
// names so, RFC 4343), without allocating when it already is.
func lowerName(name string) string {
	for i := 0; i < len(name); i++ {
		if 'A' <= name[i] && name[i] <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}
