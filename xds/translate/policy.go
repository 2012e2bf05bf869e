package translate

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cswrrv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/client_side_weighted_round_robin/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	wrrlocalityv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/wrr_locality/v3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
)

// LBPolicyAnnotation on a Service chooses how clients balance its ports.
const LBPolicyAnnotation = "shoal.io/lb-policy"

// The values of LBPolicyAnnotation.
const (
	// PolicyLeastLoaded (the default) follows the control plane's
	// cluster-wide load weights and, where the client can, picks the
	// endpoint with the fewest active requests among those.
	PolicyLeastLoaded = "least-loaded"
	// PolicyLeastRequest is per-client power of two choices on active
	// requests only, ignoring cluster-wide weights.
	PolicyLeastRequest = "least-request"
	// PolicyRoundRobin is plain round robin, for comparison and for
	// workloads where every request costs the same.
	PolicyRoundRobin = "round-robin"
)

// ValidateLBPolicy reports whether v is a value LBPolicyAnnotation accepts.
func ValidateLBPolicy(v string) error {
	switch v {
	case PolicyLeastLoaded, PolicyLeastRequest, PolicyRoundRobin:
		return nil
	}
	return fmt.Errorf("unsupported value %q: must be %q, %q or %q", v, PolicyLeastLoaded, PolicyLeastRequest, PolicyRoundRobin)
}

// policyOf is the Service's LB policy; unknown values (which the registry
// rejects) fall back to the default.
func policyOf(svc *corev1.Service) string {
	if v := svc.Annotations[LBPolicyAnnotation]; ValidateLBPolicy(v) == nil {
		return v
	}
	return PolicyLeastLoaded
}

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
	case PolicyRoundRobin:
		list = []*clusterv3.LoadBalancingPolicy_Policy{roundRobin}
	case PolicyLeastRequest:
		// grpc-js-xds has no least_request; client-side weighted round
		// robin is its closest (round robin until backends report ORCA).
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
