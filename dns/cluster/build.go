package cluster

import (
	"maps"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// builder turns cache events into indexes. It keeps the objects it has seen
// and what each service put into the current index, so a round rebuilds only
// the names of the services (and namespaces, and addresses) that changed and
// copies the rest of the map. It does no I/O: feed it events, call build.
// It is not safe for concurrent use; the plugin's writer goroutine owns it.
type builder struct {
	cfg      Config
	zones    []zoneInfo
	primary  string
	nsFilter map[string]bool // nil: every namespace

	services   map[string]*corev1.Service                       // ns/name
	slices     map[string]*discoveryv1.EndpointSlice            // ns/name of the slice
	bySvc      map[string]map[string]*discoveryv1.EndpointSlice // ns/service → slices
	byNS       map[string]map[string]bool                       // ns → ns/service keys seen
	namespaces map[string]bool                                  // namespaces that exist
	podIPs     map[netip.Addr]map[string]string                 // pod IP → ns/name → namespace
	podsSeen   map[string][]netip.Addr                          // ns/name → its IPs

	cur     *index
	owned   map[string][]string                  // ns/service → names it put in cur
	claimed map[string][]ptrClaim                // ns/service → its PTR claims
	claims  map[netip.Addr]map[string][]ptrClaim // IP → ns/service → claims

	dirtySvc    map[string]bool
	dirtyNS     map[string]bool
	dirtyIP     map[netip.Addr]bool
	dirtyPodIPs map[netip.Addr]bool
	dirtyDNS    bool
	revs        [numFeeds]int64
}

const kubeDNSKey = "kube-system/kube-dns"

func newBuilder(c *Cluster) *builder {
	b := &builder{
		cfg: c.cfg, zones: c.zones, primary: c.primary,
		services: map[string]*corev1.Service{}, slices: map[string]*discoveryv1.EndpointSlice{},
		bySvc: map[string]map[string]*discoveryv1.EndpointSlice{}, byNS: map[string]map[string]bool{},
		namespaces: map[string]bool{}, podIPs: map[netip.Addr]map[string]string{}, podsSeen: map[string][]netip.Addr{},
		owned: map[string][]string{}, claimed: map[string][]ptrClaim{}, claims: map[netip.Addr]map[string][]ptrClaim{},
		dirtySvc: map[string]bool{}, dirtyNS: map[string]bool{}, dirtyIP: map[netip.Addr]bool{}, dirtyPodIPs: map[netip.Addr]bool{},
		dirtyDNS: true,
	}
	if len(c.cfg.Namespaces) > 0 {
		b.nsFilter = map[string]bool{}
		for _, n := range c.cfg.Namespaces {
			b.nsFilter[n] = true
		}
	}
	return b
}

// apply records one event of feed.
func (b *builder) apply(feed int, e store.Event) {
	b.revs[feed] = max(b.revs[feed], e.Revision)
	if e.Type == store.Relisted || e.Type == watch.Bookmark || e.Object == nil {
		return
	}
	gone := e.Type == watch.Deleted
	switch o := e.Object.(type) {
	case *corev1.Service:
		b.applyService(o, gone)
	case *discoveryv1.EndpointSlice:
		b.applySlice(o, gone)
	case *corev1.Namespace:
		b.applyNamespace(o, gone)
	case *corev1.Pod:
		b.applyPod(o, gone)
	}
}

func (b *builder) applyService(svc *corev1.Service, gone bool) {
	key := svc.Namespace + "/" + svc.Name
	if gone {
		delete(b.services, key)
	} else {
		b.services[key] = svc
	}
	b.touch(svc.Namespace, key)
	if key == kubeDNSKey {
		b.dirtyDNS = true
	}
}

func (b *builder) applySlice(s *discoveryv1.EndpointSlice, gone bool) {
	key := s.Namespace + "/" + s.Name
	if old, ok := b.slices[key]; ok {
		if svc := sliceService(old); svc != "" {
			delete(b.bySvc[svc], key)
			if len(b.bySvc[svc]) == 0 {
				delete(b.bySvc, svc)
			}
			b.touch(old.Namespace, svc)
		}
		delete(b.slices, key)
	}
	if gone {
		return
	}
	b.slices[key] = s
	if svc := sliceService(s); svc != "" {
		if b.bySvc[svc] == nil {
			b.bySvc[svc] = map[string]*discoveryv1.EndpointSlice{}
		}
		b.bySvc[svc][key] = s
		b.touch(s.Namespace, svc)
	}
}

// sliceService is the ns/service key of the service a slice belongs to.
func sliceService(s *discoveryv1.EndpointSlice) string {
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return ""
	}
	return s.Namespace + "/" + name
}

// touch marks a service's names for rebuilding.
func (b *builder) touch(ns, key string) {
	b.dirtySvc[key] = true
	if b.byNS[ns] == nil {
		b.byNS[ns] = map[string]bool{}
	}
	b.byNS[ns][key] = true
}

func (b *builder) applyNamespace(ns *corev1.Namespace, gone bool) {
	if gone {
		delete(b.namespaces, ns.Name)
	} else if b.namespaces[ns.Name] {
		return // a status or label change: nothing DNS answers changed
	} else {
		b.namespaces[ns.Name] = true
	}
	b.dirtyNS[ns.Name] = true
	for key := range b.byNS[ns.Name] {
		b.dirtySvc[key] = true
	}
}

// applyPod keeps the IPs of pods that CoreDNS's pod informer would list:
// not finished, not terminating.
func (b *builder) applyPod(p *corev1.Pod, gone bool) {
	key := p.Namespace + "/" + p.Name
	for _, ip := range b.podsSeen[key] {
		delete(b.podIPs[ip], key)
		if len(b.podIPs[ip]) == 0 {
			delete(b.podIPs, ip)
		}
		b.dirtyPodIPs[ip] = true
	}
	delete(b.podsSeen, key)
	if gone || p.DeletionTimestamp != nil {
		return
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown:
		return
	}
	var ips []netip.Addr
	for _, s := range podIPs(p) {
		if ip, err := netip.ParseAddr(s); err == nil {
			ips = append(ips, ip.Unmap())
		}
	}
	b.podsSeen[key] = ips
	for _, ip := range ips {
		if b.podIPs[ip] == nil {
			b.podIPs[ip] = map[string]string{}
		}
		b.podIPs[ip][key] = p.Namespace
		b.dirtyPodIPs[ip] = true
	}
}

func podIPs(p *corev1.Pod) []string {
	if len(p.Status.PodIPs) == 0 {
		if p.Status.PodIP == "" {
			return nil
		}
		return []string{p.Status.PodIP}
	}
	out := make([]string, len(p.Status.PodIPs))
	for i, ip := range p.Status.PodIPs {
		out[i] = ip.IP
	}
	return out
}

// dirty reports whether anything changed since the last build.
func (b *builder) dirty() bool {
	return b.cur == nil || len(b.dirtySvc)+len(b.dirtyNS)+len(b.dirtyIP)+len(b.dirtyPodIPs) > 0 || b.dirtyDNS ||
		b.revs != b.cur.revs
}

// build returns the index with every event applied so far. Names of
// services, namespaces and addresses that did not change are carried over.
func (b *builder) build() *index {
	if !b.dirty() {
		return b.cur
	}
	next := &index{revs: b.revs}
	var maxRev int64
	for _, r := range b.revs {
		maxRev = max(maxRev, r)
	}
	next.serial = uint32(maxRev) // #nosec G115 -- a serial wraps by design (RFC 1982)
	var names *nameEdit
	if b.cur == nil {
		names, next.exposed, next.pods = editNames(nil), map[string]bool{}, map[netip.Addr][]string{}
		b.addStatic(names)
	} else {
		names, next.exposed, next.pods = editNames(b.cur.names), b.cur.exposed, b.cur.pods
	}
	if b.dirtyDNS {
		b.setNameserver(names)
		b.dirtyDNS = false
	}
	if len(b.dirtyNS) > 0 {
		next.exposed = maps.Clone(next.exposed)
		for ns := range b.dirtyNS {
			b.setNamespace(names, next.exposed, ns)
		}
		clear(b.dirtyNS)
	}
	for key := range b.dirtySvc {
		b.setService(names, next.exposed, key)
	}
	clear(b.dirtySvc)
	for ip := range b.dirtyIP {
		b.setPTR(names, ip)
	}
	clear(b.dirtyIP)
	next.names = names.m
	if len(b.dirtyPodIPs) > 0 {
		next.pods = maps.Clone(next.pods)
		for ip := range b.dirtyPodIPs {
			b.setPodIP(next.pods, ip)
		}
		clear(b.dirtyPodIPs)
	}
	b.cur = next
	return next
}
