package cluster

import (
	"net/netip"
	"strings"
)

// hitKind is what a name is in an index.
type hitKind uint8

const (
	hitNX   hitKind = iota // nothing: NXDOMAIN
	hitNode                // a node: a service's name or one every zone has
	hitPort                // _<port>._<proto>.<service's name>
	hitHost                // <endpoint>.<service's name>
	hitPTR                 // a reverse name with claims on its address
	hitPod                 // under <ns>.pod.<zone>: pod() decides
)

// hit is what find found for a name.
type hit struct {
	kind hitKind
	n    *node
	sel  selection  // hitPort, hitHost (and a service's hitNode): what of the service
	base int        // where the service's name starts in the name
	ptr  []ptrClaim // hitPTR
}

// find looks up the lower-case name key of zone z. A service's named ports
// and endpoint names are not in the index: they are found through the
// service's name, as CoreDNS finds them through the service.
func (c *Cluster) find(idx *index, z zoneInfo, key string) hit {
	if n := idx.lookup(key); n != nil {
		return hit{kind: hitNode, n: n, sel: selection{e: n.svc}}
	}
	if k, ok := reverseKey(key); ok {
		if claims, ok := idx.ptrs.get(k); ok {
			return hit{kind: hitPTR, ptr: claims}
		}
		return hit{}
	}
	if z.reverse {
		return hit{}
	}
	first, rest, ok := strings.Cut(key, ".")
	if !ok || !inZone(rest, z.name) || rest == z.name {
		return hit{}
	}
	if p := idx.lookup(rest); p != nil && p.svc != nil {
		if p.svc.kind != kindExternal && p.svc.hasHost(first) {
			return hit{kind: hitHost, n: p, sel: selection{e: p.svc, host: first}, base: len(key) - len(rest)}
		}
		return hit{}
	}
	second, rest2, ok := strings.Cut(rest, ".")
	if ok && inZone(rest2, z.name) && rest2 != z.name {
		if p := idx.lookup(rest2); p != nil && p.svc != nil {
			// CoreDNS also takes the labels without their underscores; a
			// bare "_" (its "any") is not answered.
			sel := selection{e: p.svc, pname: strings.TrimPrefix(first, "_"), pproto: strings.TrimPrefix(second, "_")}
			if p.svc.kind != kindExternal && sel.pname != "" && sel.pproto != "" && sel.named() {
				return hit{kind: hitPort, n: p, sel: sel, base: len(key) - len(rest2)}
			}
			return hit{}
		}
	}
	if c.cfg.Pods != PodsDisabled && strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(key, z.name), "."), ".pod") {
		return hit{kind: hitPod}
	}
	return hit{}
}

// hasHost reports whether one of e's endpoints is named host.
func (e *entry) hasHost(host string) bool {
	for _, s := range e.slices {
		for _, ep := range s.eps {
			if ep.host == host {
				return true
			}
		}
	}
	return false
}

// reverseKey is the address a lower-case reverse name (in-addr.arpa or
// ip6.arpa) stands for, spelled exactly as dns.ReverseAddr spells it; ok
// is false for any other name.
func reverseKey(key string) (k ipKey, ok bool) {
	if rest, found := strings.CutSuffix(key, ".in-addr.arpa."); found {
		var b [4]byte
		for i := 3; i >= 0; i-- {
			label, tail, found := strings.Cut(rest, ".")
			v, ok := octet(label)
			if !ok || found != (i > 0) {
				return k, false
			}
			b[i], rest = v, tail
		}
		return netip.AddrFrom4(b).As16(), true
	}
	if rest, found := strings.CutSuffix(key, ".ip6.arpa."); found {
		if len(rest) != 63 {
			return k, false
		}
		var b [16]byte
		for i := range 32 {
			c := rest[2*i]
			if i < 31 && rest[2*i+1] != '.' {
				return k, false
			}
			var v byte
			switch {
			case '0' <= c && c <= '9':
				v = c - '0'
			case 'a' <= c && c <= 'f':
				v = c - 'a' + 10
			default:
				return k, false
			}
			// Nibbles come last first.
			j := 31 - i
			b[j/2] |= v << (4 * (1 - j%2))
		}
		if netip.AddrFrom16(b).Is4In6() {
			return k, false // keys are unmapped: ::ffff:a.b.c.d has no PTR of its own
		}
		return b, true
	}
	return k, false
}

// octet is a decimal 0-255 written as dns.ReverseAddr writes it (no
// leading zeros).
func octet(s string) (byte, bool) {
	if len(s) == 0 || len(s) > 3 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = 10*v + int(s[i]-'0')
	}
	return byte(v), v <= 255
}
