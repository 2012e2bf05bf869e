package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestFailureDetectionCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		f    FailureDetection
		want string // "" = accepted; else a part of the error
	}{
		{"defaults", FailureDetection{}, ""},
		{"Kubernetes' timing", FailureDetection{NodeLeaseRenewInterval: 10 * time.Second, NodeMonitorGracePeriod: 40 * time.Second, PodEvictionTimeout: 5 * time.Minute}, ""},
		{"grace of two renewals", FailureDetection{NodeLeaseRenewInterval: 2 * time.Second, NodeMonitorGracePeriod: 4 * time.Second}, ""},
		{"grace under two renewals", FailureDetection{NodeLeaseRenewInterval: 3 * time.Second}, "--node-monitor-grace-period=4s: must be at least twice --node-lease-renew-interval (3s)"},
		{"grace under the default renewal", FailureDetection{NodeMonitorGracePeriod: 1500 * time.Millisecond}, "--node-monitor-grace-period=1.5s"},
		{"negative renewal", FailureDetection{NodeLeaseRenewInterval: -time.Second}, "--node-lease-renew-interval=-1s: must not be negative"},
		{"negative grace", FailureDetection{NodeMonitorGracePeriod: -time.Second}, "--node-monitor-grace-period=-1s: must not be negative"},
		{"negative eviction", FailureDetection{PodEvictionTimeout: -time.Second}, "--pod-eviction-timeout=-1s: must not be negative"},
	} {
		err := c.f.check()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}
