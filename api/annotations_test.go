package api

import (
	"strings"
	"testing"
)

func TestLBPolicy(t *testing.T) {
	for _, tt := range []struct {
		annotations map[string]string
		want        string // LBPolicyOf
		invalid     bool   // ValidateLBPolicy refuses the value
	}{
		{nil, LBPolicyLeastLoaded, true},
		{map[string]string{AnnotationLBPolicy: LBPolicyLeastLoaded}, LBPolicyLeastLoaded, false},
		{map[string]string{AnnotationLBPolicy: LBPolicyLeastRequest}, LBPolicyLeastRequest, false},
		{map[string]string{AnnotationLBPolicy: LBPolicyRoundRobin}, LBPolicyRoundRobin, false},
		// The registry refuses these; a reader falls back to the default.
		{map[string]string{AnnotationLBPolicy: "fastest"}, LBPolicyLeastLoaded, true},
		{map[string]string{AnnotationLBPolicy: "Round-Robin"}, LBPolicyLeastLoaded, true},
		{map[string]string{AnnotationLBPolicy: ""}, LBPolicyLeastLoaded, true},
	} {
		v := tt.annotations[AnnotationLBPolicy]
		if got := LBPolicyOf(tt.annotations); got != tt.want {
			t.Errorf("LBPolicyOf(%v) = %q; want %q", tt.annotations, got, tt.want)
		}
		err := ValidateLBPolicy(v)
		if (err != nil) != tt.invalid {
			t.Errorf("ValidateLBPolicy(%q) = %v; want an error: %v", v, err, tt.invalid)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+v+`"`) {
			t.Errorf("ValidateLBPolicy(%q) = %v; want the error to name the value", v, err)
		}
	}
}
