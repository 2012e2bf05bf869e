// Package lbpolicy names the load-balancing policies a Service can ask
// for with the shoal.io/lb-policy annotation. It has no dependencies so the
// registry can validate the annotation without importing xDS types.
package lbpolicy

import "fmt"

// Annotation on a Service chooses how clients balance its ports.
const Annotation = "shoal.io/lb-policy"

// The values of Annotation.
const (
	// LeastLoaded (the default) follows the control plane's cluster-wide
	// load weights and, where the client can, picks the endpoint with the
	// fewest active requests among those.
	LeastLoaded = "least-loaded"
	// LeastRequest is per-client power of two choices on active requests
	// only, ignoring cluster-wide weights.
	LeastRequest = "least-request"
	// RoundRobin is plain round robin, for comparison and for workloads
	// where every request costs the same.
	RoundRobin = "round-robin"
)

// Validate reports whether v is a value Annotation accepts.
func Validate(v string) error {
	switch v {
	case LeastLoaded, LeastRequest, RoundRobin:
		return nil
	}
	return fmt.Errorf("unsupported value %q: must be %q, %q or %q", v, LeastLoaded, LeastRequest, RoundRobin)
}

// Of returns the policy an annotation map asks for; a missing or invalid
// value (which the registry refuses) means LeastLoaded.
func Of(annotations map[string]string) string {
	if v := annotations[Annotation]; Validate(v) == nil {
		return v
	}
	return LeastLoaded
}
