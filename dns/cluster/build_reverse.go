package cluster

import (
	"net/netip"
	"slices"
)

// claims calls f for each address e claims the PTR record of, with the
// endpoint's host ("" for a cluster IP): cluster IPs first, then endpoints.
func (e *entry) claims(f func(ip netip.Addr, host string)) {
	for _, ip := range e.ips {
		f(ip, "")
	}
	for _, s := range e.slices {
		for _, ep := range s.eps {
			f(ep.ip, ep.host)
		}
	}
}

// claim adds e's claims to the PTR map, after any claims of services
// ordered before it, so an address's claims stay in service-key order.
func (b *builder) claim(ptrs *shardEdit[ipKey, []ptrClaim], e *entry) {
	e.claims(func(ip netip.Addr, host string) {
		k := ip.As16()
		cur, _ := ptrs.get(k)
		i := len(cur)
		for i > 0 && cur[i-1].owner.key > e.owner.key {
			i--
		}
		ptrs.set(k, slices.Insert(slices.Clip(cur), i, ptrClaim{owner: e.owner, host: host}))
	})
}

// unclaim removes e's owner's claims from the PTR map. Lists are copied,
// never changed: published indexes share them.
func (b *builder) unclaim(ptrs *shardEdit[ipKey, []ptrClaim], e *entry) {
	e.claims(func(ip netip.Addr, _ string) {
		k := ip.As16()
		cur, ok := ptrs.get(k)
		if !ok {
			return
		}
		rest := slices.DeleteFunc(slices.Clone(cur), func(c ptrClaim) bool { return c.owner == e.owner })
		switch {
		case len(rest) == len(cur):
		case len(rest) == 0:
			ptrs.del(k)
		default:
			ptrs.set(k, slices.Clip(rest))
		}
	})
}

// ptrTargets calls f with each name an address's PTR record points to: the
// first service whose cluster IP it is, or else every distinct endpoint
// name; host "" is the service's own name.
func ptrTargets(claims []ptrClaim, f func(o *owner, host string)) {
	for _, c := range claims {
		if c.host == "" {
			f(c.owner, "")
			return
		}
	}
	for i, c := range claims {
		if !slices.ContainsFunc(claims[:i], func(p ptrClaim) bool { return p.owner == c.owner && p.host == c.host }) {
			f(c.owner, c.host)
		}
	}
}
