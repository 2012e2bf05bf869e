package cluster

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/miekg/dns"
)

// pod answers <a-b-c-d>.<ns>.pod.<zone> (and, as CoreDNS does, the same
// with one or two more labels in front), which cannot be listed ahead: with
// `pods insecure` any address in an existing namespace, with `pods
// verified` only the address of a pod in that namespace. ok is false when
// the name is not such a name (NXDOMAIN).
func (c *Cluster) pod(idx *index, z zoneInfo, qname, key, qzone string, qtype uint16) (ans answer, ok bool) {
	if c.cfg.Pods == PodsDisabled {
		return answer{}, false
	}
	base := strings.TrimSuffix(strings.TrimSuffix(key, z.name), ".")
	if !strings.HasSuffix(base, ".pod") {
		return answer{}, false
	}
	labels := strings.Split(base, ".")
	n := len(labels)
	if n < 3 || n > 5 || labels[n-1] != "pod" {
		return answer{}, false
	}
	ns, name := labels[n-2], labels[n-3]
	if !idx.exposed[ns] {
		return answer{}, false
	}
	var s string
	if strings.Count(name, "-") == 3 && !strings.Contains(name, "--") {
		s = strings.ReplaceAll(name, "-", ".")
	} else {
		s = strings.ReplaceAll(name, "-", ":")
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return answer{}, false
	}
	if c.cfg.Pods == PodsVerified {
		addr, _ := netip.AddrFromSlice(ip)
		if !slices.Contains(idx.pods[addr.Unmap()], ns) {
			return answer{}, false
		}
	}
	v4 := ip.To4()
	hdr := func(owner string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: c.cfg.TTL}
	}
	addr := func(owner string) dns.RR {
		if v4 != nil {
			return &dns.A{Hdr: hdr(owner, dns.TypeA), A: v4}
		}
		return &dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA), AAAA: ip}
	}
	switch {
	case qtype == dns.TypeA && v4 != nil, qtype == dns.TypeAAAA && v4 == nil:
		ans.answer = []dns.RR{addr(qname)}
	case qtype == dns.TypeSRV:
		// CoreDNS answers a pod's SRV too: port 0, the pod's own name.
		target := dnsutil.Join(name, ns, "pod", qzone)
		ans.answer = []dns.RR{&dns.SRV{Hdr: hdr(qname, dns.TypeSRV), Weight: 100, Target: target}}
		ans.extra = []dns.RR{addr(target)}
	}
	return ans, true
}
