package cluster

import (
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// port is a service or endpoint port; number -1 stands for "no ports", as
// in CoreDNS (A records, but no SRV).
type port struct {
	name, proto string // lower case
	number      int32
}

// endpoint is one ready address of a service.
type endpoint struct {
	ip    netip.Addr
	host  string // the endpoint's hostname (lower case) as CoreDNS derives it
	ports []port
}

// setService replaces the names of the service key (ns/name) in names and
// its PTR claims.
func (b *builder) setService(names *nameEdit, exposed map[string]bool, key string) {
	for _, name := range b.owned[key] {
		names.del(name)
	}
	delete(b.owned, key)
	ns, name, _ := strings.Cut(key, "/")
	svc := b.services[key]
	eps := b.endpoints(key)

	var claims []ptrClaim
	if b.nsFilter == nil || exposed[ns] {
		claims = b.serviceClaims(svc, ns, name, eps)
	}
	b.setClaims(key, claims)
	if svc == nil && len(b.bySvc[key]) == 0 {
		delete(b.byNS[ns], key) // gone for good: forget it
		if len(b.byNS[ns]) == 0 {
			delete(b.byNS, ns)
		}
	}
	if svc == nil || !exposed[ns] {
		return
	}
	var owned []string
	add := func(name string, n *node) {
		names.set(name, n)
		owned = append(owned, name)
	}
	for _, z := range b.zones {
		if !z.reverse {
			b.serviceNodes(svc, eps, join(z.name, name, ns, "svc"), add)
		}
	}
	if len(owned) > 0 {
		b.owned[key] = owned
	}
}

// serviceNodes adds the names of svc under base (<svc>.<ns>.svc.<zone>).
func (b *builder) serviceNodes(svc *corev1.Service, eps []endpoint, base string, add func(string, *node)) {
	mk := nodeMaker{ttl: b.cfg.TTL}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// CoreDNS answers an ExternalName only when it is a name, not an IP.
		if ext := svc.Spec.ExternalName; ext != "" && net.ParseIP(ext) == nil {
			add(base, &node{cname: dns.Fqdn(ext)})
		}
		return
	}
	ips := clusterIPs(svc)
	headless := ips[0] == corev1.ClusterIPNone
	if !headless && ips[0] == "" {
		return // no address allocated: nothing to answer
	}
	if b.cfg.IgnoreEmptyService && !headless && len(eps) == 0 {
		return
	}
	if headless {
		all := endpointEntries(eps, base, "", "")
		if len(all) > 0 {
			add(base, mk.node(all))
		}
		for _, pp := range namedPorts(eps, nil) {
			if es := endpointEntries(eps, base, pp.name, pp.proto); len(es) > 0 {
				add("_"+pp.name+"._"+pp.proto+"."+base, mk.node(es))
			}
		}
	} else {
		ports := servicePorts(svc)
		var addrs []netip.Addr
		for _, s := range ips {
			if ip, err := netip.ParseAddr(s); err == nil {
				addrs = append(addrs, ip.Unmap())
			}
		}
		add(base, mk.node(vipEntries(addrs, ports, base, "", "")))
		for _, pp := range namedPorts(nil, ports) {
			add("_"+pp.name+"._"+pp.proto+"."+base, mk.node(vipEntries(addrs, ports, base, pp.name, pp.proto)))
		}
	}
	// <hostname>.<svc>.<ns>.svc.<zone>: every service with endpoints, as CoreDNS answers them.
	byHost := map[string][]endpoint{}
	var hosts []string
	for _, ep := range eps {
		if _, ok := byHost[ep.host]; !ok {
			hosts = append(hosts, ep.host)
		}
		byHost[ep.host] = append(byHost[ep.host], ep)
	}
	for _, h := range hosts {
		name := h + "." + base
		add(name, mk.node(endpointEntries(byHost[h], base, "", "")))
	}
}

// entry is one (address, port) pair, the unit CoreDNS builds answers from.
type entry struct {
	ip     netip.Addr
	port   int32
	target string // the SRV target and owner of the additional record
}

func vipEntries(ips []netip.Addr, ports []port, base, pname, proto string) []entry {
	var out []entry
	for _, p := range ports {
		if !portMatches(p, pname, proto) {
			continue
		}
		for _, ip := range ips {
			out = append(out, entry{ip: ip, port: p.number, target: base})
		}
	}
	return out
}

func endpointEntries(eps []endpoint, base, pname, proto string) []entry {
	var out []entry
	for _, ep := range eps {
		for _, p := range ep.ports {
			if portMatches(p, pname, proto) {
				out = append(out, entry{ip: ep.ip, port: p.number, target: ep.host + "." + base})
			}
		}
	}
	return out
}

func portMatches(p port, name, proto string) bool {
	return (name == "" || name == p.name) && (proto == "" || proto == p.proto)
}

// namedPorts are the distinct (name, protocol) pairs that an SRV query
// `_<name>._<proto>` can select.
func namedPorts(eps []endpoint, ports []port) []port {
	var out []port
	seen := map[port]bool{}
	consider := func(p port) {
		k := port{name: p.name, proto: p.proto}
		if p.name != "" && p.proto != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, p := range ports {
		consider(p)
	}
	for _, ep := range eps {
		for _, p := range ep.ports {
			consider(p)
		}
	}
	return out
}

func servicePorts(svc *corev1.Service) []port {
	if len(svc.Spec.Ports) == 0 {
		return []port{{number: -1}}
	}
	out := make([]port, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		out[i] = port{name: strings.ToLower(p.Name), proto: strings.ToLower(string(p.Protocol)), number: p.Port}
	}
	return out
}

// endpoints are the ready addresses of the slices labelled with the
// service key, in slice-name order. A slice marks an address ready itself
// (also when the service publishes not-ready addresses).
func (b *builder) endpoints(key string) []endpoint {
	if b.cfg.NoEndpoints {
		return nil
	}
	set := b.bySvc[key]
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []endpoint
	for _, n := range names {
		s := set[n]
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		ports := slicePorts(s)
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				out = append(out, endpoint{ip: ip.Unmap(), host: strings.ToLower(b.hostname(e, a)), ports: ports})
			}
		}
	}
	return out
}

func slicePorts(s *discoveryv1.EndpointSlice) []port {
	if len(s.Ports) == 0 {
		return []port{{number: -1}}
	}
	out := make([]port, len(s.Ports))
	for i, p := range s.Ports {
		out[i] = port{number: -1}
		if p.Port != nil {
			out[i].number = *p.Port
		}
		if p.Name != nil {
			out[i].name = strings.ToLower(*p.Name)
		}
		if p.Protocol != nil {
			out[i].proto = strings.ToLower(string(*p.Protocol))
		}
	}
	return out
}

// hostname is an endpoint's name under its service: its hostname, else
// (endpoint_pod_names) its pod's name, else its address with dashes.
func (b *builder) hostname(e discoveryv1.Endpoint, addr string) string {
	if e.Hostname != nil && *e.Hostname != "" {
		return *e.Hostname
	}
	if b.cfg.EndpointPodNames && e.TargetRef != nil && e.TargetRef.Name != "" && len(e.TargetRef.Name) < 64 {
		return e.TargetRef.Name
	}
	if strings.Contains(addr, ".") {
		return strings.ReplaceAll(addr, ".", "-")
	}
	h := strings.ReplaceAll(addr, ":", "-")
	if strings.HasSuffix(h, "-") {
		h += "0"
	}
	return h
}
