package cluster

import (
	"fmt"
	"time"

	"github.com/shoalmesh/shoal/controlplane/controllers"
	"github.com/shoalmesh/shoal/controlplane/controllers/nodelifecycle"
	"github.com/shoalmesh/shoal/nodeagent"
)

// FailureDetection times how fast a dead node is noticed and its pods
// replaced. Its zero value is the defaults: agents renew their Lease every
// second, a node is NotReady (its pods out of the endpoints) 4 s after its
// last renewal, and its pods are deleted, to be replaced elsewhere, 5 s
// after that. Longer values tolerate a slower network: a node whose renewals
// stall for longer than the grace period loses its endpoints until the next
// renewal arrives, and its pods once the eviction timeout passes too.
type FailureDetection struct {
	// NodeLeaseRenewInterval is how often the node agent of `shoal up`
	// renews its Lease (`shoal agent --node-lease-renew-interval` for
	// others); 0 is nodeagent.DefaultLeaseRenewInterval.
	NodeLeaseRenewInterval time.Duration
	// NodeMonitorGracePeriod is how long a Lease may go unrenewed before
	// its node is NotReady; 0 is nodelifecycle.DefaultNodeGracePeriod.
	NodeMonitorGracePeriod time.Duration
	// PodEvictionTimeout is how long the pods of a NotReady node stay
	// before they are deleted, unless they tolerate the unreachable taint
	// for another time; 0 is nodelifecycle.DefaultPodEvictionDelay.
	PodEvictionTimeout time.Duration
}

// check refuses negative durations, and a grace period that does not
// cover two renewals of this process's own agent (one late renewal would
// make the node flap).
func (f FailureDetection) check() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--node-lease-renew-interval", f.NodeLeaseRenewInterval},
		{"--node-monitor-grace-period", f.NodeMonitorGracePeriod},
		{"--pod-eviction-timeout", f.PodEvictionTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s=%s: must not be negative", d.flag, d.v)
		}
	}
	renew := cmpOr(f.NodeLeaseRenewInterval, nodeagent.DefaultLeaseRenewInterval)
	grace := cmpOr(f.NodeMonitorGracePeriod, nodelifecycle.DefaultNodeGracePeriod)
	if grace < 2*renew {
		return fmt.Errorf("--node-monitor-grace-period=%s: must be at least twice --node-lease-renew-interval (%s), or a single late renewal makes a node NotReady", grace, renew)
	}
	return nil
}

// controllers is the controllers' part of f.
func (f FailureDetection) controllers() controllers.Config {
	return controllers.Config{NodeLifecycle: nodelifecycle.Config{
		NodeGracePeriod: f.NodeMonitorGracePeriod, PodEvictionDelay: f.PodEvictionTimeout,
	}}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
