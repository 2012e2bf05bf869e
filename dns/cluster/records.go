package cluster

import (
	"math"
	"net/netip"
)

// selection is what a query name selects of a service: all of it (its
// name), one named port (_<port>._<proto>.<name>) or one endpoint name
// (<host>.<name>).
type selection struct {
	e             *entry
	pname, pproto string
	host          string
}

// An answer is made of entries, the unit CoreDNS builds records from: an
// (address, port, host) for each port of each cluster IP, or of each ready
// endpoint. A and AAAA answer each distinct address; SRV each distinct
// (target, port) with a port, each target's address in the additional
// section; the SRV weight counts every entry. The methods below walk the
// entries in CoreDNS's order and give the records to a sink, which either
// packs them (wire.go) or makes dns.RRs (lookup.go).

// sink receives an answer's records. host is the endpoint's name, below
// the service's name; "" is the service's name itself.
type sink interface {
	addr(ip netip.Addr)
	srv(weight, port uint16, host string)
	extra(host string, ip netip.Addr)
}

// vip reports whether the selection answers with the cluster IPs.
func (s *selection) vip() bool { return s.e.kind == kindClusterIP && s.host == "" }

func (s *selection) match(p *port) bool {
	return (s.pname == "" || s.pname == p.name) && (s.pproto == "" || s.pproto == p.proto)
}

// ports is how many of ps the selection matches, and how many of those
// have a number.
func (s *selection) ports(ps []port) (matched, numbered int) {
	for i := range ps {
		if s.match(&ps[i]) {
			matched++
			if ps[i].number >= 0 {
				numbered++
			}
		}
	}
	return matched, numbered
}

// named reports whether the service has the selection's named port: among
// its own ports when it answers with cluster IPs, else its endpoints'.
func (s *selection) named() bool {
	if s.e.kind == kindClusterIP {
		m, _ := s.ports(s.e.ports)
		return m > 0
	}
	for _, sl := range s.e.slices {
		if m, _ := s.ports(sl.ports); m > 0 {
			return true
		}
	}
	return false
}

// count is the number of entries: the SRV weight's divisor.
func (s *selection) count() int {
	if s.vip() {
		m, _ := s.ports(s.e.ports)
		return m * len(s.e.ips)
	}
	n := 0
	for _, sl := range s.e.slices {
		m, _ := s.ports(sl.ports)
		for i := range sl.eps {
			if s.host == "" || sl.eps[i].host == s.host {
				n += m
			}
		}
	}
	return n
}

// simple reports whether the selection's answers need no de-duplication
// beyond a port list's own: every endpoint has its own address and name.
func (s *selection) simple() bool { return s.vip() || s.e.uniqueIP && s.e.uniqueHost }

// dedup returns what de-duplicates the selection's records, nil when every
// endpoint has its own address and name.
func (s *selection) dedup() *seen {
	if s.simple() {
		return nil
	}
	return &seen{}
}

// addrs gives the distinct addresses of one family (A: v6 false).
func (s *selection) addrs(v6 bool, k sink) {
	if s.vip() {
		if m, _ := s.ports(s.e.ports); m > 0 {
			for _, ip := range s.e.ips {
				if ip.Is6() == v6 {
					k.addr(ip)
				}
			}
		}
		return
	}
	d := s.dedup()
	for _, sl := range s.e.slices {
		if m, _ := s.ports(sl.ports); m == 0 {
			continue
		}
		for i := range sl.eps {
			ep := &sl.eps[i]
			if (s.host == "" || ep.host == s.host) && ep.ip.Is6() == v6 && d.firstIP(ep.ip) {
				k.addr(ep.ip)
			}
		}
	}
}

// srvs gives the SRV records, then their targets' addresses (A, then
// AAAA).
func (s *selection) srvs(k sink) {
	weight := srvWeight(s.count())
	if s.vip() {
		s.vipSRVs(weight, k)
		return
	}
	d := s.dedup()
	for _, sl := range s.e.slices {
		for i := range sl.eps {
			ep := &sl.eps[i]
			if s.host != "" && ep.host != s.host {
				continue
			}
			for j := range sl.ports {
				p := &sl.ports[j]
				if s.match(p) && p.number >= 0 && !s.numberedBefore(sl.ports[:j], p.number) && d.firstSRV(ep.host, p.number) {
					k.srv(weight, uint16(p.number), ep.host) // #nosec G115 -- ports are validated 1-65535
				}
			}
		}
	}
	s.extras(false, d, k)
	s.extras(true, d, k)
}

// vipSRVs gives the SRV records of the service's ports, and its cluster IPs.
func (s *selection) vipSRVs(weight uint16, k sink) {
	if len(s.e.ips) == 0 {
		return
	}
	for i := range s.e.ports {
		p := &s.e.ports[i]
		if s.match(p) && p.number >= 0 && !s.numberedBefore(s.e.ports[:i], p.number) {
			k.srv(weight, uint16(p.number), "") // #nosec G115 -- ports are validated 1-65535
		}
	}
	if _, n := s.ports(s.e.ports); n > 0 {
		for _, v6 := range [2]bool{false, true} {
			for _, ip := range s.e.ips {
				if ip.Is6() == v6 {
					k.extra("", ip)
				}
			}
		}
	}
}

// numberedBefore reports whether a port the selection matches among ps has
// number n.
func (s *selection) numberedBefore(ps []port, n int32) bool {
	for i := range ps {
		if ps[i].number == n && s.match(&ps[i]) {
			return true
		}
	}
	return false
}

// extras gives the distinct (host, address) pairs of one family of the
// endpoints with a numbered port.
func (s *selection) extras(v6 bool, d *seen, k sink) {
	for _, sl := range s.e.slices {
		if _, n := s.ports(sl.ports); n == 0 {
			continue
		}
		for i := range sl.eps {
			ep := &sl.eps[i]
			if (s.host == "" || ep.host == s.host) && ep.ip.Is6() == v6 && d.firstExtra(ep.host, ep.ip) {
				k.extra(ep.host, ep.ip)
			}
		}
	}
}

// seen is what an answer has so far, for services whose endpoints share
// addresses or names; a nil *seen lets everything through.
type seen struct {
	ips    map[netip.Addr]bool
	srvs   map[hostPort]bool
	extras map[hostIP]bool
}

type hostPort struct {
	host string
	port int32
}

type hostIP struct {
	host string
	ip   netip.Addr
}

func (d *seen) firstIP(ip netip.Addr) bool { return d == nil || first(&d.ips, ip) }

func (d *seen) firstSRV(host string, port int32) bool {
	return d == nil || first(&d.srvs, hostPort{host, port})
}

func (d *seen) firstExtra(host string, ip netip.Addr) bool {
	return d == nil || first(&d.extras, hostIP{host, ip})
}

// first adds k to *m (made if nil) and reports whether it was not there.
func first[K comparable](m *map[K]bool, k K) bool {
	if (*m)[k] {
		return false
	}
	if *m == nil {
		*m = map[K]bool{}
	}
	(*m)[k] = true
	return true
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
