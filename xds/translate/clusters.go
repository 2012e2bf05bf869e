package translate

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cswrrv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/client_side_weighted_round_robin/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
)

// connectTimeout bounds an Envoy upstream connect (Envoy's own default).
const connectTimeout = 5 * time.Second

// Clusters returns one EDS Cluster per TCP port of svc, in port order.
func Clusters(svc *corev1.Service, domain string) []*clusterv3.Cluster {
	if !translatable(svc) {
		return nil
	}
	var out []*clusterv3.Cluster
	for _, p := range svc.Spec.Ports {
		if tcpPort(p) {
			out = append(out, cluster(portName(svc, p, domain)))
		}
	}
	return out
}

func cluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig:   adsConfigSource(),
			ServiceName: name,
		},
		ConnectTimeout: durationpb.New(connectTimeout),
		// lb_policy stays at its default: grpc-js-xds rejects LEAST_REQUEST
		// there, and load_balancing_policy takes precedence everywhere.
		LoadBalancingPolicy: lbPolicy(),
	}
}

// lbPolicy lists the policies in order of preference; every client takes the
// first it supports: Envoy and grpc-go >= 1.72 least_request, grpc-js-xds
// client_side_weighted_round_robin (round robin until backends report ORCA
// load), and round_robin for anything older.
func lbPolicy() *clusterv3.LoadBalancingPolicy {
	return &clusterv3.LoadBalancingPolicy{
		Policies: []*clusterv3.LoadBalancingPolicy_Policy{
			lbEntry("envoy.load_balancing_policies.least_request", &leastrequestv3.LeastRequest{}),
			lbEntry("envoy.load_balancing_policies.client_side_weighted_round_robin", &cswrrv3.ClientSideWeightedRoundRobin{}),
			lbEntry("envoy.load_balancing_policies.round_robin", &roundrobinv3.RoundRobin{}),
		},
	}
}

func lbEntry(name string, cfg proto.Message) *clusterv3.LoadBalancingPolicy_Policy {
	return &clusterv3.LoadBalancingPolicy_Policy{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: name, TypedConfig: typed(cfg)},
	}
}

// adsConfigSource points a resource at the ADS stream it came from.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}
