package cluster

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// join builds a name from labels and a zone ("." included).
func join(zone string, labels ...string) string {
	n := strings.Join(labels, ".")
	if zone == "." {
		return n + "."
	}
	return n + "." + zone
}

// addStatic adds the names every zone has whatever the registry holds: the
// apex, the svc and pod subtrees and dns-version. (ns.dns comes from
// setNameserver.) Reverse zones answer these too, as CoreDNS does.
func (b *builder) addStatic(names *shardEdit[string, *node]) {
	for _, z := range b.zones {
		names.set(z.name, &node{flags: apex | txtNX})
		names.set(join(z.name, "svc"), &node{flags: txtNX})
		names.set(join(z.name, "pod"), &node{flags: txtNX})
		owner := join(z.name, "dns-version")
		names.set(owner, &node{flags: onlyTXT, txt: &dns.TXT{
			Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 28800},
			Txt: []string{SchemaVersion},
		}})
	}
}

// setNameserver sets ns.dns.<zone>: the kube-dns Service's cluster IPs, or
// DefaultDNSServiceIP without one.
func (b *builder) setNameserver(names *shardEdit[string, *node]) {
	ips := []netip.Addr{netip.MustParseAddr(DefaultDNSServiceIP)}
	if svc := b.services[kubeDNSKey]; svc != nil && svc.kind == kindClusterIP {
		ips = svc.ips
	}
	n := &node{flags: txtNX, addrs: ips}
	for _, z := range b.zones {
		names.set(join(z.name, "ns", "dns"), n)
	}
}

// addrRR returns an A (for IPv4) or AAAA record of ip owned by owner.
func addrRR(owner string, ip netip.Addr, ttl uint32) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.IP(ip.AsSlice())}
	}
	return &dns.AAAA{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: net.IP(ip.AsSlice())}
}

// setNamespace sets whether ns is answered and its <ns>.svc and <ns>.pod
// names, which exist (NODATA) when the namespace does.
func (b *builder) setNamespace(names *shardEdit[string, *node], exposed map[string]bool, ns string) {
	ok := b.namespaces[ns] && (b.nsFilter == nil || b.nsFilter[ns])
	if ok {
		exposed[ns] = true
	} else {
		delete(exposed, ns)
	}
	for _, z := range b.zones {
		if z.reverse {
			continue
		}
		svc, pod := join(z.name, ns, "svc"), join(z.name, ns, "pod")
		names.del(svc)
		names.del(pod)
		if !ok {
			continue
		}
		names.set(svc, &node{flags: txtNX})
		if b.cfg.Pods != PodsDisabled {
			names.set(pod, &node{flags: txtNX})
		}
	}
}

// setPodIP sets the namespaces of the pods that have ip.
func (b *builder) setPodIP(pods map[netip.Addr][]string, ip netip.Addr) {
	owners := b.podIPs[ip]
	if len(owners) == 0 {
		delete(pods, ip)
		return
	}
	keys := make([]string, 0, len(owners))
	for k := range owners {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	nss := make([]string, 0, len(keys))
	for _, k := range keys {
		if ns := owners[k]; !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	pods[ip] = nss
}
