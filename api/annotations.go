package api

import "fmt"

// The shoal.io/* annotations Shoal reads, and on which objects.
const (
	// AnnotationLBPolicy on a Service chooses how clients balance its
	// ports: one of the LBPolicy values below.
	AnnotationLBPolicy = "shoal.io/lb-policy"
	// AnnotationLoad on a node's Lease carries its load report, a
	// LoadReport as JSON (see load.go).
	AnnotationLoad = "shoal.io/load"
)

// The values of AnnotationLBPolicy.
const (
	// LBPolicyLeastLoaded (the default) follows the control plane's
	// cluster-wide load weights and, where the client can, picks the
	// endpoint with the fewest active requests among those.
	LBPolicyLeastLoaded = "least-loaded"
	// LBPolicyLeastRequest is per-client power of two choices on active
	// requests only, ignoring cluster-wide weights.
	LBPolicyLeastRequest = "least-request"
	// LBPolicyRoundRobin is plain round robin, for comparison and for
	// workloads where every request costs the same.
	LBPolicyRoundRobin = "round-robin"
)

// ValidateLBPolicy reports whether v is a value AnnotationLBPolicy accepts.
func ValidateLBPolicy(v string) error {
	switch v {
	case LBPolicyLeastLoaded, LBPolicyLeastRequest, LBPolicyRoundRobin:
		return nil
	}
	return fmt.Errorf("unsupported value %q: must be %q, %q or %q", v, LBPolicyLeastLoaded, LBPolicyLeastRequest, LBPolicyRoundRobin)
}

// LBPolicyOf returns the policy an annotation map asks for; a missing or
// invalid value (which the registry refuses) means LBPolicyLeastLoaded.
func LBPolicyOf(annotations map[string]string) string {
	if v := annotations[AnnotationLBPolicy]; ValidateLBPolicy(v) == nil {
		return v
	}
	return LBPolicyLeastLoaded
}
