package cluster

import (
	"maps"
	"net/netip"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// builder turns cache events into indexes. It keeps what it has seen of the
// objects (trimmed) and each service's entry, so a round rebuilds only the
// services (and namespaces, and pod addresses) that changed and copies the
// shards of the maps it touches. It does no I/O: feed it events, call build.
// It is not safe for concurrent use; the plugin's writer goroutine owns it.
type builder struct {
	cfg      Config
	zones    []zoneInfo
	primary  string
	nsFilter map[string]bool // nil: every namespace

	services   map[string]*service          // ns/name
	slices     map[string]*slice            // ns/name of the slice
	bySvc      map[string]map[string]*slice // ns/service → slices
	byNS       map[string]map[string]bool   // ns → ns/service keys seen
	namespaces map[string]bool              // namespaces that exist
	podIPs     map[netip.Addr]map[string]string
	podsSeen   map[string][]netip.Addr // ns/name → its IPs

	cur *index
	// entries are the services' current entries, also of those not
	// answered (no namespace, or slices without a service), whose
	// endpoints still claim PTR records.
	entries map[string]*entry
	owners  map[string]*owner

	dirtySvc    map[string]bool
	dirtyNS     map[string]bool
	dirtyPodIPs map[netip.Addr]bool
	dirtyDNS    bool
	revs        [numFeeds]int64
}

const kubeDNSKey = "kube-system/kube-dns"

func newBuilder(c *Cluster) *builder {
	b := &builder{
		cfg: c.cfg, zones: c.zones, primary: c.primary,
		services: map[string]*service{}, slices: map[string]*slice{},
		bySvc: map[string]map[string]*slice{}, byNS: map[string]map[string]bool{},
		namespaces: map[string]bool{}, podIPs: map[netip.Addr]map[string]string{}, podsSeen: map[string][]netip.Addr{},
		entries: map[string]*entry{}, owners: map[string]*owner{},
		dirtySvc: map[string]bool{}, dirtyNS: map[string]bool{}, dirtyPodIPs: map[netip.Addr]bool{},
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

// apply records one event of feed. Objects may come trimmed (the plugin's
// own caches) or whole (caches shared with the API server).
func (b *builder) apply(feed int, e store.Event) {
	b.revs[feed] = max(b.revs[feed], e.Revision)
	if e.Type == store.Relisted || e.Type == watch.Bookmark || e.Object == nil {
		return
	}
	gone := e.Type == watch.Deleted
	switch o := trim(b.cfg, e.Object).(type) {
	case *service:
		b.applyService(o, gone)
	case *slice:
		b.applySlice(o, gone)
	case *namespace:
		b.applyNamespace(o.name, gone)
	case *pod:
		b.applyPod(o, gone)
	}
}

func (b *builder) applyService(svc *service, gone bool) {
	key := svc.namespace + "/" + svc.name
	if gone {
		delete(b.services, key)
	} else {
		b.services[key] = svc
	}
	b.touch(svc.namespace, key)
	if key == kubeDNSKey {
		b.dirtyDNS = true
	}
}

func (b *builder) applySlice(s *slice, gone bool) {
	key := s.namespace + "/" + s.name
	if old, ok := b.slices[key]; ok {
		if svc := old.service; svc != "" {
			delete(b.bySvc[svc], key)
			if len(b.bySvc[svc]) == 0 {
				delete(b.bySvc, svc)
			}
			b.touch(old.namespace, svc)
		}
		delete(b.slices, key)
	}
	if gone {
		return
	}
	b.slices[key] = s
	if svc := s.service; svc != "" {
		if b.bySvc[svc] == nil {
			b.bySvc[svc] = map[string]*slice{}
		}
		b.bySvc[svc][key] = s
		b.touch(s.namespace, svc)
	}
}

// touch marks a service for rebuilding.
func (b *builder) touch(ns, key string) {
	b.dirtySvc[key] = true
	if b.byNS[ns] == nil {
		b.byNS[ns] = map[string]bool{}
	}
	b.byNS[ns][key] = true
}

func (b *builder) applyNamespace(ns string, gone bool) {
	if gone {
		delete(b.namespaces, ns)
	} else if b.namespaces[ns] {
		return // a status or label change: nothing DNS answers changed
	} else {
		b.namespaces[ns] = true
	}
	b.dirtyNS[ns] = true
	for key := range b.byNS[ns] {
		b.dirtySvc[key] = true
	}
}

// applyPod keeps the IPs of running pods (trimPod keeps no others).
func (b *builder) applyPod(p *pod, gone bool) {
	key := p.namespace + "/" + p.name
	for _, ip := range b.podsSeen[key] {
		delete(b.podIPs[ip], key)
		if len(b.podIPs[ip]) == 0 {
			delete(b.podIPs, ip)
		}
		b.dirtyPodIPs[ip] = true
	}
	delete(b.podsSeen, key)
	if gone || len(p.ips) == 0 {
		return
	}
	b.podsSeen[key] = p.ips
	for _, ip := range p.ips {
		if b.podIPs[ip] == nil {
			b.podIPs[ip] = map[string]string{}
		}
		b.podIPs[ip][key] = p.namespace
		b.dirtyPodIPs[ip] = true
	}
}

// dirty reports whether anything changed since the last build.
func (b *builder) dirty() bool {
	return b.cur == nil || len(b.dirtySvc)+len(b.dirtyNS)+len(b.dirtyPodIPs) > 0 || b.dirtyDNS ||
		b.revs != b.cur.revs
}

// edit is a round's changes to the current index's maps.
type edit struct {
	names *shardEdit[string, *node]
	ptrs  *shardEdit[ipKey, []ptrClaim]
}

// build returns the index with every event applied so far. Services,
// namespaces and addresses that did not change are carried over.
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
	var ed edit
	if b.cur == nil {
		ed = edit{names: editShards[string, *node](nil, nameShard), ptrs: editShards[ipKey, []ptrClaim](nil, ipShard)}
		next.exposed, next.pods = map[string]bool{}, map[netip.Addr][]string{}
		b.addStatic(ed.names)
	} else {
		ed = edit{names: editShards(b.cur.names, nameShard), ptrs: editShards(b.cur.ptrs, ipShard)}
		next.exposed, next.pods = b.cur.exposed, b.cur.pods
	}
	if b.dirtyDNS {
		b.setNameserver(ed.names)
		b.dirtyDNS = false
	}
	if len(b.dirtyNS) > 0 {
		next.exposed = maps.Clone(next.exposed)
		for ns := range b.dirtyNS {
			b.setNamespace(ed.names, next.exposed, ns)
		}
		clear(b.dirtyNS)
	}
	for key := range b.dirtySvc {
		b.setService(ed, next.exposed, key)
	}
	clear(b.dirtySvc)
	next.names, next.ptrs = ed.names.m, ed.ptrs.m
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
