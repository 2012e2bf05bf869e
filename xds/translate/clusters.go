package translate

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
)

// connectTimeout bounds an Envoy upstream connect (Envoy's own default).
const connectTimeout = 5 * time.Second

// Clusters returns one EDS Cluster per TCP port of svc and, if svc has a
// cluster IP, per UDP port, in port order.
func Clusters(svc *corev1.Service, domain string) []*clusterv3.Cluster {
	if !translatable(svc) {
		return nil
	}
	_, hasVIP := clusterIP(svc)
	var out []*clusterv3.Cluster
	for _, p := range svc.Spec.Ports {
		switch {
		case tcpPort(p):
			out = append(out, cluster(portName(svc, p, domain), policyOf(svc)))
		case udpPort(p) && hasVIP:
			out = append(out, cluster(udpPortName(svc, p, domain), policyOf(svc)))
		}
	}
	return out
}

func cluster(name, policy string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig:   adsConfigSource(),
			ServiceName: name,
		},
		ConnectTimeout:      durationpb.New(connectTimeout),
		LoadBalancingPolicy: lbPolicy(policy),
		// Clients report per-locality (so per-endpoint: every endpoint is
		// its own locality) request counts to the server they got this
		// cluster from; that is what the cluster-wide weights are made of.
		LrsServer: &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Self{Self: &corev3.SelfConfigSource{}},
			ResourceApiVersion:    corev3.ApiVersion_V3,
		},
	}
}

// adsConfigSource points a resource at the ADS stream it came from.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}
