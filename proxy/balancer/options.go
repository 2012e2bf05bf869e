package balancer

import "time"

// Mode selects the picking algorithm.
type Mode int

const (
	// LeastRequest is weighted power of two choices on active counts.
	LeastRequest Mode = iota
	// RoundRobin is weighted round robin, for comparison.
	RoundRobin
)

func (m Mode) String() string {
	switch m {
	case LeastRequest:
		return "least_request"
	case RoundRobin:
		return "round_robin"
	}
	return "unknown"
}

// Options configures a Balancer. Zero fields take the defaults below, which
// are Envoy's outlier-detection defaults except MaxEjectionPercent.
type Options struct {
	Mode Mode
	// ConsecutiveFailures ejects a host after this many failed Reports in a
	// row (default 5; negative disables outlier detection).
	ConsecutiveFailures int
	// BaseEjectionTime is the first ejection's length (default 30s); the
	// n-th ejection lasts n times as long, up to MaxEjectionTime.
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps an ejection (default 300s).
	MaxEjectionTime time.Duration
	// MaxEjectionPercent caps the share of hosts ejected at once (default 50).
	MaxEjectionPercent int
	// Now is the clock, for tests (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.ConsecutiveFailures == 0 {
		o.ConsecutiveFailures = 5
	}
	if o.BaseEjectionTime <= 0 {
		o.BaseEjectionTime = 30 * time.Second
	}
	if o.MaxEjectionTime <= 0 {
		o.MaxEjectionTime = 300 * time.Second
	}
	if o.MaxEjectionTime < o.BaseEjectionTime {
		o.MaxEjectionTime = o.BaseEjectionTime
	}
	if o.MaxEjectionPercent <= 0 {
		o.MaxEjectionPercent = 50
	}
	if o.MaxEjectionPercent > 100 {
		o.MaxEjectionPercent = 100
	}
	return o
}
