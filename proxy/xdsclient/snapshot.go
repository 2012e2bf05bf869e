package xdsclient

import (
	"net/netip"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Type is one of the four xDS resource types the client subscribes to.
type Type uint8

// The resource types, in the order the client subscribes to them.
const (
	LDS Type = iota
	CDS
	RDS
	EDS
	numTypes
)

var typeNames = [numTypes]string{"listener", "cluster", "route", "endpoints"}

var typeURLs = [numTypes]string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.RouteType, resourcev3.EndpointType}

func (t Type) String() string {
	if t >= numTypes {
		return "unknown"
	}
	return typeNames[t]
}

// URL is the type's xDS type URL.
func (t Type) URL() string { return typeURLs[t] }

func typeOf(url string) (Type, bool) {
	for t, u := range typeURLs {
		if u == url {
			return Type(t), true
		}
	}
	return 0, false
}

// Snapshot is the whole accepted configuration. It and everything it holds
// are immutable: the client builds new maps for every snapshot (their values
// may be shared with earlier snapshots, which is safe because nobody writes
// them), so a data plane can keep one behind an atomic.Pointer.
type Snapshot struct {
	// Versions are the accepted version_info per type ("" before any).
	Versions [numTypes]string
	// Listeners by name ("<clusterIP>_<port>").
	Listeners map[string]Listener
	// Routes by RouteConfiguration name: only those a Listener refers to.
	Routes map[string]RouteConfig
	// Clusters by name.
	Clusters map[string]Cluster
	// Endpoints by ClusterLoadAssignment name, which is Cluster.EDSName
	// (the cluster's own name for Shoal's clusters); only for clusters in
	// Clusters. A cluster whose assignment has not arrived yet is absent.
	Endpoints map[string][]Endpoint
}

// Protocol is a listener's transport protocol.
type Protocol uint8

// Transport protocols.
const (
	TCP Protocol = iota
	UDP
)

func (p Protocol) String() string {
	if p == UDP {
		return "udp"
	}
	return "tcp"
}

// Listener is a service VIP:port and what to do with its connections:
// exactly one of Cluster (L4, tcp_proxy or, for UDP, udp_proxy) and Route
// (L7, HTTP over RDS) is set. A UDP listener always has a Cluster.
type Listener struct {
	Name     string
	Addr     netip.AddrPort
	Protocol Protocol
	// Cluster is the upstream cluster of a TCP or UDP proxy listener.
	Cluster string
	// Route is the RouteConfiguration name of an HTTP listener. It may
	// not be in Snapshot.Routes yet (RDS follows LDS); the data plane
	// then answers 503 or holds the listener back, as it chooses.
	Route string
	// IdleTimeout is the udp_proxy idle_timeout of a UDP listener: how
	// long a client's flow lives without datagrams. 0 means unset, and the
	// data plane picks its default.
	IdleTimeout time.Duration
}

// HTTP reports whether connections are parsed as HTTP and each request
// routed (L7), rather than proxied whole to Cluster (L4).
func (l Listener) HTTP() bool { return l.Route != "" }

// RouteConfig is a RouteConfiguration.
type RouteConfig struct {
	Name         string
	VirtualHosts []VirtualHost
}

// VirtualHost is a set of domains and its routes, first match wins.
type VirtualHost struct {
	Name    string
	Domains []string
	Routes  []Route
}

// Route sends requests whose path matches to Cluster. Exactly one of
// Prefix and Path is set, except that an empty Prefix (match everything)
// is valid.
type Route struct {
	Prefix string // match a path prefix
	Path   string // match this exact path
	// Cluster may not (yet) be in Snapshot.Clusters: the data plane answers
	// 503 then.
	Cluster string
}

// Cluster is a CDS resource (envoy.config.cluster.v3.Cluster) of type EDS,
// reduced to what the proxy uses. The name is Envoy's: a named group of
// upstream endpoints that Routes and Listeners send traffic to, not a
// cluster of machines.
type Cluster struct {
	Name string
	// EDSName is the ClusterLoadAssignment name (the cluster name unless
	// eds_cluster_config.service_name says otherwise).
	EDSName string
	// LBPolicies are the load_balancing_policy entries' extension names
	// (e.g. "envoy.load_balancing_policies.least_request"), in order of
	// preference; the data plane takes the first it supports. Empty means
	// the legacy lb_policy field, given as LegacyLBPolicy.
	LBPolicies     []string
	LegacyLBPolicy string
	// LRS is whether load is to be reported to the xDS server (lrs_server
	// self).
	LRS bool
}

// Health of an endpoint, as core.v3.HealthStatus.
type Health uint8

// Health values; only Healthy and Unknown endpoints take new requests,
// Draining ones finish what they have.
const (
	HealthUnknown Health = iota
	Healthy
	Unhealthy
	Draining
	Timeout
	Degraded
)

var healthNames = [...]string{"UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED"}

func (h Health) String() string {
	if int(h) < len(healthNames) {
		return healthNames[h]
	}
	return "UNKNOWN"
}

// Endpoint is one upstream address of a cluster.
type Endpoint struct {
	Addr netip.AddrPort
	// Weight is the endpoint's load-balancing weight (the endpoint's own,
	// else its locality's, else 1); never 0.
	Weight uint32
	Health Health
	// Locality is the endpoint's locality zone and sub-zone, as LRS
	// reports must name it.
	Region, Zone, SubZone string
}
