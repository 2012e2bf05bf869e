package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cswrrv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/client_side_weighted_round_robin/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	wrrlocalityv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/wrr_locality/v3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/api"
)

// lbPolicy lists policies in order of preference; every client takes the
// first one it supports (Envoy, grpc-go and grpc-js-xds all do).
//
// The least-loaded list starts with wrr_locality because Shoal puts every
// endpoint in its own locality whose weight is the endpoint's load weight:
// grpc-go and grpc-js ignore endpoint weights but honour locality weights
// under wrr_locality, so this is how proxyless clients follow the
// cluster-wide weights. Inside a locality least_request (grpc-go) or
// round_robin (grpc-js) picks the one endpoint. Envoy and Shoal's proxy,
// which implement weighted least request over endpoint weights, take
// least_request. The legacy lb_policy stays unset: grpc-js-xds rejects
// LEAST_REQUEST there.
func lbPolicy(policy string) *clusterv3.LoadBalancingPolicy {
	leastRequest := lbEntry("envoy.load_balancing_policies.least_request", &leastrequestv3.LeastRequest{})
	roundRobin := lbEntry("envoy.load_balancing_policies.round_robin", &roundrobinv3.RoundRobin{})
	var list []*clusterv3.LoadBalancingPolicy_Policy
	switch policy {
	case api.LBPolicyRoundRobin:
		list = []*clusterv3.LoadBalancingPolicy_Policy{roundRobin}
	case api.LBPolicyLeastRequest:
		// grpc-js-xds has no least_request. Its client-side weighted
		// round robin (only with GRPC_EXPERIMENTAL_XDS_WRR_LB=true, and
		// round robin until backends report ORCA load) is the closest;
		// by default it takes round_robin.
		list = []*clusterv3.LoadBalancingPolicy_Policy{
			leastRequest,
			lbEntry("envoy.load_balancing_policies.client_side_weighted_round_robin", &cswrrv3.ClientSideWeightedRoundRobin{}),
			roundRobin,
		}
	default:
		list = []*clusterv3.LoadBalancingPolicy_Policy{
			lbEntry("envoy.load_balancing_policies.wrr_locality", &wrrlocalityv3.WrrLocality{
				EndpointPickingPolicy: &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{
					lbEntry("envoy.load_balancing_policies.least_request", &leastrequestv3.LeastRequest{}),
					lbEntry("envoy.load_balancing_policies.round_robin", &roundrobinv3.RoundRobin{}),
				}},
			}),
			leastRequest,
			roundRobin,
		}
	}
	return &clusterv3.LoadBalancingPolicy{Policies: list}
}

func lbEntry(name string, cfg proto.Message) *clusterv3.LoadBalancingPolicy_Policy {
	return &clusterv3.LoadBalancingPolicy_Policy{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: name, TypedConfig: typed(cfg)},
	}
}

// policyOf is the Service's LB policy.
func policyOf(svc *corev1.Service) string { return api.LBPolicyOf(svc.Annotations) }
