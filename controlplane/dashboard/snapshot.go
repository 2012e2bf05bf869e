package dashboard

import (
	"encoding/json"
	"hash/fnv"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// eventsPerNamespace is how many of each namespace's newest Events a
// snapshot keeps; a viewer is sent the newest eventsShown of those it may
// list.
const (
	eventsPerNamespace = 50
	eventsShown        = 50
)

// item is one object's view, encoded once per snapshot for every viewer.
// part is the view without what a second right guards (a Service's
// endpoints, a node's load); for other kinds it is full.
type item struct {
	key, ns    string
	full, part []byte
	fullHash   uint64
	partHash   uint64
}

func newItem(key, ns string, full, part any) item {
	it := item{key: key, ns: ns}
	it.full, _ = json.Marshal(full) // views are plain data: never an error
	it.fullHash = hash(it.full)
	it.part, it.partHash = it.full, it.fullHash
	if part != nil {
		it.part, _ = json.Marshal(part)
		it.partHash = hash(it.part)
	}
	return it
}

func hash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// snapshot is the whole cluster as the dashboard shows it at one moment,
// immutable once published.
type snapshot struct {
	gen        uint64
	at         time.Time
	namespaces []string
	nodes      []item
	services   []item
	deploys    []item
	events     []item // newest first
	// endpoints are the endpoint IPs of each Service ("ns/name"), and
	// samples what the history records of each IP.
	endpoints map[string][]string
	samples   map[string]sample
}

// sources are what a snapshot is built from: the cached objects (as
// Cache.List returns them) and the traffic and weights read from etcd.
type sources struct {
	namespaces, nodes, leases, services, slices, deploys, events []store.Object
	traffic                                                      api.TrafficReport
	weights                                                      map[string]uint32
}

// build makes a snapshot. It is pure: objects in, views out.
func build(src sources, now time.Time) *snapshot {
	s := &snapshot{at: now, endpoints: map[string][]string{}, samples: map[string]sample{}}
	for _, o := range src.namespaces {
		s.namespaces = append(s.namespaces, o.GetName())
	}

	loads := map[string]*nodeLoad{}
	for _, o := range src.leases {
		if l, ok := o.(*coordinationv1.Lease); ok && l.Namespace == api.NodeLeaseNamespace {
			if nl, ok := nodeLoadOf(l, now); ok {
				loads[l.Name] = nl
			}
		}
	}
	for _, o := range src.nodes {
		n, ok := o.(*corev1.Node)
		if !ok {
			continue
		}
		part := nodeViewOf(n)
		full := part
		full.Load = loads[n.Name]
		s.nodes = append(s.nodes, newItem(n.Name, "", full, part))
	}

	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, o := range src.slices {
		if sl, ok := o.(*discoveryv1.EndpointSlice); ok && sl.Labels[discoveryv1.LabelServiceName] != "" {
			k := sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName]
			bySvc[k] = append(bySvc[k], sl)
		}
	}
	for _, o := range src.services {
		svc, ok := o.(*corev1.Service)
		if !ok {
			continue
		}
		k := svc.Namespace + "/" + svc.Name
		part := serviceViewOf(svc)
		full := part
		full.Endpoints = endpointsOf(bySvc[k], src.traffic, src.weights)
		for _, ep := range full.Endpoints {
			s.endpoints[k] = append(s.endpoints[k], ep.IP)
			s.samples[ep.IP] = sample{weight: ep.Weight, latency: ep.Latency}
		}
		s.services = append(s.services, newItem(k, svc.Namespace, full, part))
	}

	for _, o := range src.deploys {
		if d, ok := o.(*appsv1.Deployment); ok {
			s.deploys = append(s.deploys, newItem(d.Namespace+"/"+d.Name, d.Namespace, deploymentViewOf(d), nil))
		}
	}

	s.events = newestEvents(src.events)
	return s
}

// newestEvents keeps each namespace's eventsPerNamespace newest Events,
// newest first.
func newestEvents(objs []store.Object) []item {
	var views []eventView
	for _, o := range objs {
		if e, ok := o.(*corev1.Event); ok {
			views = append(views, eventViewOf(e))
		}
	}
	slices.SortStableFunc(views, func(a, b eventView) int { return b.time.Compare(a.time) })
	perNS := map[string]int{}
	var out []item
	for _, v := range views {
		if perNS[v.Namespace] >= eventsPerNamespace {
			continue
		}
		perNS[v.Namespace]++
		out = append(out, newItem("", v.Namespace, v, nil))
	}
	return out
}

// retimed is s at a new moment, for a tick with nothing changed.
func (s *snapshot) retimed(now time.Time) *snapshot {
	c := *s
	c.at = now
	return &c
}
