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
func (s selection) vip() bool { return s.e.kind == kindClusterIP && s.host == "" }

func (s selection) match(p port) bool {
	return (s.pname == "" || s.pname == p.name) && (s.pproto == "" || s.pproto == p.proto)
}

// ports is how many of ps the selection matches, and how many of those
// have a number.
func (s selection) ports(ps []port) (matched, numbered int) {
	for _, p := range ps {
		if s.match(p) {
			matched++
			if p.number >= 0 {
				numbered++
			}
		}
	}
	return matched, numbered
}

// named reports whether the service has the selection's named port: among
// its own ports when it answers with cluster IPs, else its endpoints'.
func (s selection) named() bool {
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

// endpoints calls f for each slice with a port the selection matches, and
// each of its endpoints the selection names.
func (s selection) endpoints(numbered bool, f func(sl *slice, ep endpoint)) {
	for _, sl := range s.e.slices {
		if m, n := s.ports(sl.ports); m == 0 || numbered && n == 0 {
			continue
		}
		for _, ep := range sl.eps {
			if s.host == "" || ep.host == s.host {
				f(sl, ep)
			}
		}
	}
}

// count is the number of entries: the SRV weight's divisor.
func (s selection) count() int {
	if s.vip() {
		m, _ := s.ports(s.e.ports)
		return m * len(s.e.ips)
	}
	n := 0
	for _, sl := range s.e.slices {
		m, _ := s.ports(sl.ports)
		for _, ep := range sl.eps {
			if s.host == "" || ep.host == s.host {
				n += m
			}
		}
	}
	return n
}

// simple reports whether the selection's answers need no de-duplication
// beyond a port list's own: every endpoint has its own address and name.
func (s selection) simple() bool { return s.vip() || s.e.uniqueIP && s.e.uniqueHost }

// addrs gives the distinct addresses of one family (A: v6 false).
func (s selection) addrs(v6 bool, k sink) {
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
	var seen map[netip.Addr]bool
	s.endpoints(false, func(_ *slice, ep endpoint) {
		if ep.ip.Is6() != v6 {
			return
		}
		if !s.e.uniqueIP {
			if seen[ep.ip] {
				return
			}
			if seen == nil {
				seen = map[netip.Addr]bool{}
			}
			seen[ep.ip] = true
		}
		k.addr(ep.ip)
	})
}

// srvs gives the SRV records, then their targets' addresses (A, then
// AAAA).
func (s selection) srvs(k sink) {
	weight := srvWeight(s.count())
	if s.vip() {
		if len(s.e.ips) == 0 {
			return
		}
		for i, p := range s.e.ports {
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
		return
	}
	type hostPort struct {
		host string
		port int32
	}
	var seen map[hostPort]bool
	s.endpoints(true, func(sl *slice, ep endpoint) {
		for i, p := range sl.ports {
			if !s.match(p) || p.number < 0 || s.numberedBefore(sl.ports[:i], p.number) {
				continue
			}
			if !s.e.uniqueHost {
				hp := hostPort{ep.host, p.number}
				if seen[hp] {
					continue
				}
				if seen == nil {
					seen = map[hostPort]bool{}
				}
				seen[hp] = true
			}
			k.srv(weight, uint16(p.number), ep.host) // #nosec G115 -- ports are validated 1-65535
		}
	})
	s.extras(false, k)
	s.extras(true, k)
}

// numberedBefore reports whether a port the selection matches among ps has
// number n.
func (s selection) numberedBefore(ps []port, n int32) bool {
	for _, p := range ps {
		if p.number == n && s.match(p) {
			return true
		}
	}
	return false
}

// extras gives the distinct (host, address) pairs of one family of the
// endpoints with a numbered port.
func (s selection) extras(v6 bool, k sink) {
	type hostIP struct {
		host string
		ip   netip.Addr
	}
	var seen map[hostIP]bool
	s.endpoints(true, func(_ *slice, ep endpoint) {
		if ep.ip.Is6() != v6 {
			return
		}
		if !s.e.uniqueIP {
			hi := hostIP{ep.host, ep.ip}
			if seen[hi] {
				return
			}
			if seen == nil {
				seen = map[hostIP]bool{}
			}
			seen[hi] = true
		}
		k.extra(ep.host, ep.ip)
	})
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
