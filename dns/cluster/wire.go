package cluster

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// The fast path packs the common answers (a service's, port's or
// endpoint's A, AAAA and SRV, a PTR, NXDOMAIN and NODATA) straight from the
// index into a pooled buffer and writes the bytes: no *dns.Msg, no records,
// no compression map, no allocation. It packs exactly what the server would
// send for the *dns.Msg the plugin would otherwise write (uncompressed, as
// request.ScrubWriter leaves a reply that fits), and only when that is so:
// a request with EDNS options or TSIG, a name in mixed case or with escapes,
// a reply that would have to be compressed or truncated, an answer that
// needs de-duplicating, anything else goes the general way.

// wireMax is the longest reply the fast path sends over UDP: longer ones
// the server may compress (request.Scrub: above 1480 bytes over IPv4, 1220
// over IPv6), so they go the general way.
const wireMax = 1220

var wires = sync.Pool{New: func() any { return &wire{b: make([]byte, 0, 2*wireMax)} }}

// wire is a reply being packed; it is the sink of a selection's records.
type wire struct {
	b          []byte
	limit      int
	an, ns, ar uint16
	nx         bool // the name does not exist
	qend       int  // where the question's name ends
	base       int  // where the service's name starts in the question
	ttl        uint32
	compress   bool // answer owners point to the question
	over       bool // longer than limit: packing stopped
	bad        bool // the reply cannot be packed here
}

// writeWire answers r on w from the index if it can, and reports whether it
// did.
func (c *Cluster) writeWire(w dns.ResponseWriter, r *dns.Msg) bool {
	raw, tcp := rawWriter(w)
	if !raw {
		return false
	}
	p := wires.Get().(*wire)
	ok := c.pack(p, r, tcp)
	if ok {
		w.Write(p.b)
	}
	wires.Put(p)
	return ok
}

// pack packs the reply to r into p; false if it must go the general way.
func (c *Cluster) pack(p *wire, r *dns.Msg, tcp bool) bool {
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery || len(r.Extra) > 1 {
		return false
	}
	q := r.Question[0]
	var opt *dns.OPT
	if len(r.Extra) == 1 {
		o, isOPT := r.Extra[0].(*dns.OPT)
		if !isOPT || len(o.Option) > 0 || o.Version() != 0 {
			return false
		}
		opt = o
	}
	if q.Qclass != dns.ClassINET || q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR || q.Qtype == dns.TypeSOA || !plainLower(q.Name) {
		return false
	}
	z, ok := c.match(q.Name)
	idx := c.index.Load()
	if !ok || idx == nil {
		return false
	}
	// The client's buffer, as request.Request.Size reckons it.
	limit := dns.MinMsgSize
	if opt != nil {
		limit = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	if tcp {
		limit = dns.MaxMsgSize
	}
	*p = wire{b: append(p.b[:0], make([]byte, 12)...), limit: min(limit, wireMax), ttl: c.cfg.TTL}
	if !c.packReply(p, idx, z, q, opt) {
		return false
	}
	if p.over && limit == dns.MinMsgSize && p.an > 0 && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA) {
		// Too long for 512 bytes: request.Scrub compresses such a reply, and
		// sends it so if it then fits. A's and AAAA's only name is the
		// question's.
		*p = wire{b: p.b[:12], limit: p.limit, ttl: p.ttl, compress: true}
		if !c.packReply(p, idx, z, q, opt) {
			return false
		}
	}
	if p.over || p.nx && c.cfg.Fall.Through(q.Name) {
		return false
	}
	flags := uint16(1<<15 | 1<<10) // QR, AA
	switch {
	case p.nx:
		flags |= dns.RcodeNameError
		responses.nxdomain.Inc()
	case p.an == 0:
		responses.nodata.Inc()
	default:
		responses.answer.Inc()
	}
	if r.RecursionDesired {
		flags |= 1 << 8
	}
	if r.CheckingDisabled {
		flags |= 1 << 4
	}
	h := p.b[:12]
	binary.BigEndian.PutUint16(h[0:], r.Id)
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint16(h[4:], 1)
	binary.BigEndian.PutUint16(h[6:], p.an)
	binary.BigEndian.PutUint16(h[8:], p.ns)
	binary.BigEndian.PutUint16(h[10:], p.ar)
	return true
}

// packReply packs the question, the answer (none for NXDOMAIN and NODATA:
// the zone's SOA then) and the client's OPT after the header's room. False:
// the general way must answer.
func (c *Cluster) packReply(p *wire, idx *index, z zoneInfo, q dns.Question, opt *dns.OPT) bool {
	if !c.packAnswer(p, idx, z, q) || p.bad {
		return false
	}
	if p.an == 0 {
		p.soa(z, c.cfg.TTL, idx.serial)
	}
	if opt != nil {
		// request.SizeAndDo's OPT: the client's, version 0, only DO kept.
		p.b = append(p.b, 0, 0, byte(dns.TypeOPT), byte(opt.Hdr.Class>>8), byte(opt.Hdr.Class))
		p.b = binary.BigEndian.AppendUint32(p.b, opt.Hdr.Ttl&0xff00)
		p.b = append(p.b, 0, 0)
		p.ar++
	}
	p.over = p.over || len(p.b) > p.limit
	return !p.bad
}

func (c *Cluster) packAnswer(p *wire, idx *index, z zoneInfo, q dns.Question) bool {
	p.name(q.Name)
	p.qend = len(p.b)
	p.b = binary.BigEndian.AppendUint16(p.b, q.Qtype)
	p.b = binary.BigEndian.AppendUint16(p.b, q.Qclass)
	h := c.find(idx, z, q.Name)
	switch h.kind {
	case hitNX:
		p.nx = true
		return true
	case hitPTR:
		if q.Qtype != dns.TypePTR {
			p.nx = true // a reverse name has nothing else
			return true
		}
		ptrTargets(h.ptr, func(o *owner, host string) { p.ptr(o, host, c.primary) })
		return true
	case hitNode:
		if h.n.svc == nil || h.n.svc.kind == kindExternal {
			return false
		}
	case hitPort, hitHost:
	default:
		return false
	}
	if !h.sel.simple() {
		return false
	}
	// The service's name ends the question's: as many bytes of it as of
	// the key from h.base on, plus the root label's.
	p.base = p.qend - (len(q.Name) - h.base + 1)
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		h.sel.addrs(q.Qtype == dns.TypeAAAA, p)
	case dns.TypeSRV:
		h.sel.srvs(p)
	}
	return true
}

// plainLower reports whether name is lower case and has no escapes: as
// the index spells names, and as the fast path packs them.
func plainLower(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' || c == '\\' {
			return false
		}
	}
	return name != "" && name[len(name)-1] == '.'
}

// name packs a lower-case FQDN without escapes, uncompressed.
func (p *wire) name(s string) {
	if s != "." {
		p.labels(s[:len(s)-1])
	}
	p.b = append(p.b, 0)
}

// labels packs the dot-separated labels of s (no trailing dot, no root).
func (p *wire) labels(s string) {
	for s != "" {
		l, rest, _ := strings.Cut(s, ".")
		if l == "" || len(l) > 63 {
			p.bad = true
			return
		}
		p.b = append(p.b, byte(len(l)))
		p.b = append(p.b, l...)
		s = rest
	}
}

// rr packs an RR header owned by the question's name and returns where
// its RDLENGTH goes.
func (p *wire) rr(rrtype uint16) int {
	if p.compress {
		p.b = append(p.b, 0xc0, 12)
	} else {
		p.b = append(p.b, p.b[12:p.qend]...)
	}
	return p.header(rrtype, p.ttl)
}

func (p *wire) header(rrtype uint16, ttl uint32) int {
	p.b = binary.BigEndian.AppendUint16(p.b, rrtype)
	p.b = binary.BigEndian.AppendUint16(p.b, dns.ClassINET)
	p.b = binary.BigEndian.AppendUint32(p.b, ttl)
	p.b = append(p.b, 0, 0)
	return len(p.b) - 2
}

// rdlength fills in the RDLENGTH at at.
func (p *wire) rdlength(at int) {
	binary.BigEndian.PutUint16(p.b[at:], uint16(len(p.b)-at-2)) // #nosec G115 -- bounded by the limit
	p.over = len(p.b) > p.limit
}

// target packs <host>.<service's name> (the service's name for host "").
func (p *wire) target(host string) {
	p.labels(host)
	p.b = append(p.b, p.b[p.base:p.qend]...)
}

func (p *wire) ip(ip netip.Addr) {
	if ip.Is4() {
		a := ip.As4()
		p.b = append(p.b, a[:]...)
	} else {
		a := ip.As16()
		p.b = append(p.b, a[:]...)
	}
}

func addrType(ip netip.Addr) uint16 {
	if ip.Is4() {
		return dns.TypeA
	}
	return dns.TypeAAAA
}

func (p *wire) addr(ip netip.Addr) {
	if p.over || p.bad {
		return
	}
	at := p.rr(addrType(ip))
	p.ip(ip)
	p.rdlength(at)
	p.an++
}

func (p *wire) srv(weight, port uint16, host string) {
	if p.over || p.bad {
		return
	}
	at := p.rr(dns.TypeSRV)
	p.b = append(p.b, 0, 0, byte(weight>>8), byte(weight), byte(port>>8), byte(port))
	p.target(host)
	p.rdlength(at)
	p.an++
}

func (p *wire) extra(host string, ip netip.Addr) {
	if p.over || p.bad {
		return
	}
	p.target(host)
	at := p.header(addrType(ip), p.ttl)
	p.ip(ip)
	p.rdlength(at)
	p.ar++
}

// ptr packs a PTR record to <host>.<svc>.<ns>.svc.<zone>.
func (p *wire) ptr(o *owner, host, zone string) {
	if p.over || p.bad {
		return
	}
	at := p.rr(dns.TypePTR)
	p.labels(host)
	p.labels(o.name)
	p.labels(o.ns)
	p.labels("svc")
	p.name(zone)
	p.rdlength(at)
	p.an++
}

// soa packs the zone's SOA into the authority section, as Cluster.soa
// makes it: the zone ends the question's name.
func (p *wire) soa(z zoneInfo, ttl, serial uint32) {
	n := len(z.name) + 1 // the zone's packed length
	if z.name == "." {
		n = 1
	}
	zone := p.qend - n
	p.b = append(p.b, p.b[zone:p.qend]...)
	at := p.header(dns.TypeSOA, min(ttl, 300))
	p.labels("ns.dns")
	p.b = append(p.b, p.b[zone:p.qend]...)
	p.labels("hostmaster")
	p.b = append(p.b, p.b[zone:p.qend]...)
	for _, v := range [5]uint32{serial, 7200, 1800, 86400, ttl} {
		p.b = binary.BigEndian.AppendUint32(p.b, v)
	}
	p.rdlength(at)
	p.ns++
}
