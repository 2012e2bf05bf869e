package main

import (
	"flag"
	"time"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/controlplane/controllers/nodelifecycle"
	"github.com/shoalmesh/shoal/nodeagent"
)

// addFailureFlags adds the failure-detection flags: the node monitor's on
// servers, the Lease renewal where an agent runs (shoal up).
func addFailureFlags(fs *flag.FlagSet, f *cluster.FailureDetection, withAgent bool) {
	if withAgent {
		addRenewFlag(fs, &f.NodeLeaseRenewInterval)
	}
	fs.DurationVar(&f.NodeMonitorGracePeriod, "node-monitor-grace-period", nodelifecycle.DefaultNodeGracePeriod,
		"how long a node's Lease may go unrenewed before the node is NotReady and its pods leave the endpoints (Kubernetes: 40s); "+
			"at least a few --node-lease-renew-interval, more on a slow or lossy network, where a stalled node otherwise flaps")
	fs.DurationVar(&f.PodEvictionTimeout, "pod-eviction-timeout", nodelifecycle.DefaultPodEvictionDelay,
		"how long the pods of a NotReady node stay before they are deleted and replaced elsewhere, unless they tolerate "+
			"node.kubernetes.io/unreachable for another tolerationSeconds (Kubernetes: 5m); longer keeps pods through short outages")
}

// addRenewFlag adds --node-lease-renew-interval.
func addRenewFlag(fs *flag.FlagSet, d *time.Duration) {
	fs.DurationVar(d, "node-lease-renew-interval", nodeagent.DefaultLeaseRenewInterval,
		"how often the node agent renews its Lease, the heartbeat the servers time (Kubernetes: 10s); "+
			"keep it well under the servers' --node-monitor-grace-period")
}
