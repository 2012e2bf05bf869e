package cluster

import (
	"slices"
	"strings"
)

// setService replaces the names and PTR claims of the service key (ns/name)
// with those of its current objects.
func (b *builder) setService(ed edit, exposed map[string]bool, key string) {
	ns, name, _ := strings.Cut(key, "/")
	for _, z := range b.zones {
		if !z.reverse {
			ed.names.del(join(z.name, name, ns, "svc"))
		}
	}
	if old := b.entries[key]; old != nil {
		b.unclaim(ed.ptrs, old)
	}
	svc := b.services[key]
	e := b.entry(key, svc)
	if e == nil {
		delete(b.entries, key) // gone for good: forget it
		delete(b.owners, key)
		delete(b.byNS[ns], key)
		if len(b.byNS[ns]) == 0 {
			delete(b.byNS, ns)
		}
		return
	}
	b.entries[key] = e
	if b.nsFilter == nil || exposed[ns] {
		b.claim(ed.ptrs, e)
	}
	if svc == nil || !exposed[ns] || !answered(b.cfg, e) {
		return
	}
	n := &node{svc: e}
	for _, z := range b.zones {
		if !z.reverse {
			ed.names.set(join(z.name, name, ns, "svc"), n)
		}
	}
}

// entry is the entry of the service key from svc (nil if it is gone) and
// its slices; nil when neither exists.
func (b *builder) entry(key string, svc *service) *entry {
	set := b.bySvc[key]
	if svc == nil && len(set) == 0 {
		return nil
	}
	e := &entry{owner: b.owner(key)}
	if svc != nil {
		e.kind, e.external, e.ports = svc.kind, svc.external, svc.ports
		if svc.kind != kindExternal {
			e.ips = svc.ips
		}
	}
	if !b.cfg.NoEndpoints {
		for _, s := range set {
			if len(s.eps) > 0 {
				e.slices = append(e.slices, s)
			}
		}
		slices.SortFunc(e.slices, func(x, y *slice) int { return strings.Compare(x.name, y.name) })
	}
	e.uniqueIP, e.uniqueHost = unique(e.slices)
	return e
}

// answered reports whether a service's names exist: an ExternalName with a
// name to point to, a ClusterIP service with an address (and, with `ignore
// empty_service`, ready endpoints), a headless service with ready endpoints.
func answered(cfg Config, e *entry) bool {
	switch e.kind {
	case kindExternal:
		return e.external != ""
	case kindClusterIP:
		return !cfg.IgnoreEmptyService || len(e.slices) > 0
	case kindHeadless:
		return len(e.slices) > 0
	}
	return false
}

func (b *builder) owner(key string) *owner {
	o := b.owners[key]
	if o == nil {
		ns, name, _ := strings.Cut(key, "/")
		o = &owner{key: key, ns: ns, name: name}
		b.owners[key] = o
	}
	return o
}

// unique reports whether no address and whether no host name appears twice
// among the endpoints of ss.
func unique(ss []*slice) (ips, hosts bool) {
	n := 0
	for _, s := range ss {
		n += len(s.eps)
	}
	if n < 2 {
		return true, true
	}
	seenIP := make(map[ipKey]struct{}, n)
	seenHost := make(map[string]struct{}, n)
	ips, hosts = true, true
	for _, s := range ss {
		for _, ep := range s.eps {
			k := ep.ip.As16()
			if _, dup := seenIP[k]; dup {
				ips = false
			}
			if _, dup := seenHost[ep.host]; dup {
				hosts = false
			}
			seenIP[k], seenHost[ep.host] = struct{}{}, struct{}{}
		}
	}
	return ips, hosts
}
