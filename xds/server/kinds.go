package server

import (
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Kind is a set of resources the server keeps in one cache.
type Kind int

// The kinds of resources Shoal serves.
const (
	APIListeners      Kind = iota // LDS for proxyless gRPC
	OutboundListeners             // LDS for Envoy and Shoal's proxy
	Routes                        // RDS
	Clusters                      // CDS
	Endpoints                     // EDS
	numKinds
)

var kindNames = [numKinds]string{"api_listeners", "outbound_listeners", "routes", "clusters", "endpoints"}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "unknown"
	}
	return kindNames[k]
}

func (k Kind) typeURL() string {
	switch k {
	case APIListeners, OutboundListeners:
		return resourcev3.ListenerType
	case Routes:
		return resourcev3.RouteType
	case Clusters:
		return resourcev3.ClusterType
	default:
		return resourcev3.EndpointType
	}
}

// typeLabel is the short metric label of an xDS type URL.
func typeLabel(typeURL string) string {
	switch typeURL {
	case resourcev3.ListenerType:
		return "lds"
	case resourcev3.RouteType:
		return "rds"
	case resourcev3.ClusterType:
		return "cds"
	case resourcev3.EndpointType:
		return "eds"
	}
	return "other"
}

// classify picks the cache for a request: by type, and for listeners by
// client, since gRPC clients want ApiListeners and Envoy socket ones.
func classify(typeURL, userAgent string) string {
	switch typeURL {
	case resourcev3.ListenerType:
		if isProxyless(userAgent) {
			return APIListeners.String()
		}
		return OutboundListeners.String()
	case resourcev3.RouteType:
		return Routes.String()
	case resourcev3.ClusterType:
		return Clusters.String()
	case resourcev3.EndpointType:
		return Endpoints.String()
	}
	return typeURL // no such cache: the mux answers with an error naming it
}

// isProxyless reports whether a node is a gRPC library ("gRPC Go",
// "gRPC Node Pure JS", "gRPC C++", "gRPC Java").
func isProxyless(userAgent string) bool { return strings.HasPrefix(userAgent, "gRPC") }

func newMux(caches [numKinds]*kindCache) *cache.MuxCache {
	m := &cache.MuxCache{
		Classify: func(r *cache.Request) string {
			return classify(r.GetTypeUrl(), r.GetNode().GetUserAgentName())
		},
		ClassifyDelta: func(r *cache.DeltaRequest) string {
			return classify(r.GetTypeUrl(), r.GetNode().GetUserAgentName())
		},
		Caches: map[string]cache.Cache{},
	}
	for k, c := range caches {
		m.Caches[Kind(k).String()] = c
	}
	return m
}
