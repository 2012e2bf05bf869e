package cluster

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// ptrClaim is a service's claim on the PTR record of an address: its
// cluster IP (which wins) or one of its endpoints.
type ptrClaim struct {
	ip      netip.Addr
	target  string
	cluster bool
}

// serviceClaims are the PTR claims of the service ns/name (svc may be nil:
// CoreDNS names an endpoint's address after the slice's service label
// whether or not that service exists).
func (b *builder) serviceClaims(svc *corev1.Service, ns, name string, eps []endpoint) []ptrClaim {
	var out []ptrClaim
	if svc != nil && svc.Spec.Type != corev1.ServiceTypeExternalName {
		target := join(b.primary, name, ns, "svc")
		for _, s := range clusterIPs(svc) {
			if ip, err := netip.ParseAddr(s); err == nil {
				out = append(out, ptrClaim{ip: ip.Unmap(), target: target, cluster: true})
			}
		}
	}
	for _, ep := range eps {
		out = append(out, ptrClaim{ip: ep.ip, target: join(b.primary, ep.host, name, ns, "svc")})
	}
	return out
}

// setClaims replaces the PTR claims of the service key and marks the
// addresses whose records change.
func (b *builder) setClaims(key string, claims []ptrClaim) {
	for _, c := range b.claimed[key] {
		if m := b.claims[c.ip]; m != nil {
			delete(m, key)
			if len(m) == 0 {
				delete(b.claims, c.ip)
			}
		}
		b.dirtyIP[c.ip] = true
	}
	delete(b.claimed, key)
	if len(claims) == 0 {
		return
	}
	b.claimed[key] = claims
	for _, c := range claims {
		if b.claims[c.ip] == nil {
			b.claims[c.ip] = map[string][]ptrClaim{}
		}
		b.claims[c.ip][key] = append(b.claims[c.ip][key], c)
		b.dirtyIP[c.ip] = true
	}
}

// setPTR sets the PTR records of ip: the service whose cluster IP it is, or
// else every endpoint name with that address.
func (b *builder) setPTR(names *nameEdit, ip netip.Addr) {
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return
	}
	rev = strings.ToLower(rev)
	names.del(rev)
	byKey := b.claims[ip]
	if len(byKey) == 0 || !b.inAnyZone(rev) {
		return
	}
	n := &node{flags: onlyPTR}
	for _, t := range ptrTargets(byKey) {
		n.ptr = append(n.ptr, &dns.PTR{Hdr: dns.RR_Header{Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: b.cfg.TTL}, Ptr: t})
	}
	names.set(rev, n)
}

func (b *builder) inAnyZone(name string) bool {
	for _, z := range b.zones {
		if inZone(name, z.name) {
			return true
		}
	}
	return false
}

// ptrTargets are the names an address points to, given the claims on it by
// service key: a cluster IP's service, or else every endpoint name.
func ptrTargets(byKey map[string][]ptrClaim) []string {
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, c := range byKey[k] {
			if c.cluster {
				return []string{c.target}
			}
		}
	}
	var targets []string
	for _, k := range keys {
		for _, c := range byKey[k] {
			if !slices.Contains(targets, c.target) {
				targets = append(targets, c.target)
			}
		}
	}
	return targets
}
