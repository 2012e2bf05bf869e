package xdsclient

import (
	"maps"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// emptySnapshot is the state before anything is accepted.
func emptySnapshot() *Snapshot {
	return &Snapshot{
		Listeners: map[string]Listener{},
		Routes:    map[string]RouteConfig{},
		Clusters:  map[string]Cluster{},
		Endpoints: map[string][]Endpoint{},
	}
}

// merge builds the snapshot that accepting resp would give: cur with the
// response's type replaced (LDS, CDS: full state) or updated (RDS, EDS:
// only what changed), and routes and endpoints nobody refers to any more
// dropped. cur is not modified; the result shares no map with it.
func merge(cur *Snapshot, t Type, resp *discoveryv3.DiscoveryResponse) (*Snapshot, error) {
	next := &Snapshot{
		Versions:  cur.Versions,
		Listeners: cur.Listeners,
		Routes:    cur.Routes,
		Clusters:  cur.Clusters,
		Endpoints: cur.Endpoints,
	}
	next.Versions[t] = resp.GetVersionInfo()
	switch t {
	case LDS:
		ls, err := parseListeners(resp.GetResources())
		if err != nil {
			return nil, err
		}
		next.Listeners = ls
	case CDS:
		cs, err := parseClusters(resp.GetResources())
		if err != nil {
			return nil, err
		}
		next.Clusters = cs
	case RDS:
		rs, err := parseRoutes(resp.GetResources())
		if err != nil {
			return nil, err
		}
		next.Routes = maps.Clone(cur.Routes)
		maps.Copy(next.Routes, rs)
	case EDS:
		es, err := parseEndpoints(resp.GetResources())
		if err != nil {
			return nil, err
		}
		next.Endpoints = maps.Clone(cur.Endpoints)
		maps.Copy(next.Endpoints, es)
	}
	// Keep only what is subscribed: this drops what Listeners and Clusters
	// no longer name, and anything a server sent unasked.
	next.Routes = keep(next.Routes, routeNames(next))
	next.Endpoints = keep(next.Endpoints, edsNames(next))
	// Every snapshot gets maps of its own, so a handler may keep one while
	// later snapshots are built.
	next.Listeners = maps.Clone(next.Listeners)
	next.Clusters = maps.Clone(next.Clusters)
	return next, nil
}

func keep[V any](m map[string]V, names []string) map[string]V {
	out := make(map[string]V, len(names))
	for _, n := range names {
		if v, ok := m[n]; ok {
			out[n] = v
		}
	}
	return out
}

// routeNames are the RouteConfigurations the listeners refer to, sorted.
func routeNames(s *Snapshot) []string {
	var out []string
	for _, l := range s.Listeners {
		if l.Route != "" {
			out = append(out, l.Route)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// edsNames are the ClusterLoadAssignments the clusters need, sorted.
func edsNames(s *Snapshot) []string {
	out := make([]string, 0, len(s.Clusters))
	for _, c := range s.Clusters {
		out = append(out, c.EDSName)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
