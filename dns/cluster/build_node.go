package cluster

import (
	"math"
	"net/netip"

	"github.com/miekg/dns"
)

// nodeMaker builds nodes from entries, as CoreDNS's plugin.A, plugin.AAAA
// and plugin.SRV turn a service list into records. Records with the same
// owner and data are made once and shared by every node of a service.
type nodeMaker struct {
	ttl   uint32
	addrs map[addrKey]any // *dns.A or *dns.AAAA
	srvs  map[srvKey]*dns.SRV
}

type addrKey struct {
	owner string
	ip    netip.Addr
}

type srvKey struct {
	target string
	port   int32
}

func (m *nodeMaker) addr(owner string, ip netip.Addr) (*dns.A, *dns.AAAA) {
	if m.addrs == nil {
		m.addrs = map[addrKey]any{}
	}
	k := addrKey{owner, ip}
	if rr, ok := m.addrs[k]; ok {
		a, _ := rr.(*dns.A)
		aaaa, _ := rr.(*dns.AAAA)
		return a, aaaa
	}
	a, aaaa := addrRR(owner, ip, m.ttl)
	if a != nil {
		m.addrs[k] = a
	} else {
		m.addrs[k] = aaaa
	}
	return a, aaaa
}

func (m *nodeMaker) srv(target string, port int32) *dns.SRV {
	if m.srvs == nil {
		m.srvs = map[srvKey]*dns.SRV{}
	}
	k := srvKey{target, port}
	if rr, ok := m.srvs[k]; ok {
		return rr
	}
	rr := &dns.SRV{
		Hdr:  dns.RR_Header{Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: m.ttl},
		Port: uint16(port), Target: target, // #nosec G115 -- ports are validated 1-65535
	}
	m.srvs[k] = rr
	return rr
}

// node answers entries: one A/AAAA per distinct address; one SRV per
// distinct (target, port) with a port, each with its target's address in
// the additional section.
func (m *nodeMaker) node(entries []entry) *node {
	n := &node{weight: srvWeight(len(entries))}
	seenIP := make(map[netip.Addr]bool, len(entries))
	seenSRV := make(map[srvKey]bool, len(entries))
	seenX := make(map[addrKey]bool, len(entries))
	for _, e := range entries {
		if !seenIP[e.ip] {
			seenIP[e.ip] = true
			a, aaaa := m.addr(e.target, e.ip)
			if a != nil {
				n.a = append(n.a, a)
			} else {
				n.aaaa = append(n.aaaa, aaaa)
			}
		}
		if e.port < 0 {
			continue
		}
		if sk := (srvKey{e.target, e.port}); !seenSRV[sk] {
			seenSRV[sk] = true
			n.srv = append(n.srv, m.srv(e.target, e.port))
		}
		if ak := (addrKey{e.target, e.ip}); !seenX[ak] {
			seenX[ak] = true
			a, aaaa := m.addr(e.target, e.ip)
			if a != nil {
				n.xa = append(n.xa, a)
			} else {
				n.xaaaa = append(n.xaaaa, aaaa)
			}
		}
	}
	return n
}

// srvWeight is the weight CoreDNS gives each of n SRV records of equal
// priority (every record counted, also those it then leaves out).
func srvWeight(n int) uint16 {
	if n == 0 {
		return 0
	}
	w := uint16(math.Floor(100.0 / float64(100*n) * 100))
	return max(w, 1)
}
