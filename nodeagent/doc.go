// Package nodeagent is Shoal's node agent, its kubelet: it registers the
// node, heartbeats with load reports, and runs the pods the scheduler binds
// to it, with the container runtime (nodeagent/runtime), the pod network
// (nodeagent/network) and the probes (nodeagent/probe).
//
// # Use
//
// Every binary that runs an agent calls runtime.Init first thing in main
// (and every TestMain of a package whose tests run one): the containers'
// inits are that binary.
//
//	if err := nodeagent.Preflight(""); err != nil {
//		// not root, no CAP_NET_ADMIN, no cgroups: say so, run without pods
//	}
//	a, err := nodeagent.New(nodeagent.Config{
//		REST:     &rest.Config{Host: apiURL, BearerToken: nodeToken, TLSClientConfig: rest.TLSClientConfig{CAData: ca}},
//		NodeName: "node-1",
//		DataDir:  "/var/lib/shoal/agent",
//		Logger:   logger,
//	})
//	...
//	err = a.Run(ctx) // until ctx ends; then it stops its pods
//
// # What it writes where
//
// All through the API server, with the node's token (system:node:<name>):
//
//   - its Node: created (or adopted) with labels kubernetes.io/hostname,
//     os and arch; spec.podCIDR from Config.PodCIDR if the Node is new
//     (else the registry allocates one, which the agent reads back); status
//     with capacity and allocatable (CPUs, memory, the data dir's disk,
//     110 pods), InternalIP and Hostname addresses,
//     daemonEndpoints.kubeletEndpoint.port (the log server's), nodeInfo and
//     the Ready, MemoryPressure, DiskPressure and PIDPressure conditions,
//     written every 10 s and at once when one changes. A clean stop that
//     stops the pods sets Ready=False (NodeAgentStopped). A Node deleted
//     under a running agent is registered again with the same pod CIDR.
//   - its Lease, kube-node-lease/<node>: renewed every 2 s (api.LoadInterval)
//     with the load report (api.SetLoadReport) in the same single write: the
//     node's CPU (from /proc/stat) and memory in use (MemTotal -
//     MemAvailable), the running pods, and per pod its CPU (cgroup CPU
//     time), working set and established TCP connections (from its network
//     namespace's /proc/<pid>/net/tcp{,6}).
//   - pods/status of its pods, only when it changed: phase, the
//     PodScheduled, Initialized, ContainersReady and Ready conditions (with
//     transition times), hostIP, podIP, startTime and container statuses
//     (state, lastState, restartCount, ready, started).
//   - Events about its pods (Started, BackOff, Killing, Unhealthy, Failed).
//   - the final delete of a pod it has stopped (gracePeriodSeconds 0, the
//     pod's UID as precondition).
//
// It watches the pods bound to it (fieldSelector spec.nodeName=<node>)
// and all Nodes, for host-gw routes to their pod CIDRs.
//
// # Pods
//
// Each pod has a worker goroutine. It sets up the pod's network (also for
// hostNetwork pods, which get a resolv.conf), then starts each container
// with its command and args ($(VAR) expanded), env (value, and valueFrom
// fieldRef and resourceFieldRef; other sources are a
// CreateContainerConfigError), workingDir, CPU and memory limits, hostname
// and the pod's resolv.conf and hosts bind-mounted. image is ignored (the
// API server warns); volumes are ignored with a warning event; a pod with
// init containers, which Shoal does not run, gets a
// CreateContainerConfigError rather than running without them. A container
// restarts per restartPolicy after a back-off of 1 s doubling to 60 s, back
// to 1 s after 10 minutes up; meanwhile it waits with reason
// CrashLoopBackOff, or RunContainerError (with the runtime's error, e.g. a
// command not found) when it could not start. lastState.terminated keeps
// the last run's exit code and reason (Completed, Error, OOMKilled,
// StartError). Liveness and startup probe failures restart a container;
// readiness decides its Ready. Exec probes run through nsenter(1) in the
// container's namespaces, with its environment and working directory (not
// in its cgroup).
//
// # Termination
//
// A pod with a deletionTimestamp (a graceful delete) is marked Ready=False
// first, so that endpoints drop it; then its containers get SIGTERM, and
// SIGKILL after deletionGracePeriodSeconds; then its network and logs go
// and the agent deletes it with grace 0. A pod that vanishes outright
// (force-deleted) is stopped the same way within 2 s, with no writes.
//
// Where a pod is in this life is one value per worker, a podState
// (pod_state.go): running; ending, then ended once its network is down,
// when every container has ended for good (Succeeded or Failed); stopping
// (or removing, for an ended pod) when it is deleted or the agent stops
// without keeping it; stopped; deleted once the final delete is accepted.
// Only the moves drawn there are allowed.
//
// # Restarts of the agent
//
// Containers and pod networks outlive the agent. A new agent on the same
// data dir adopts the containers of pods still bound to the node (nothing
// runs twice; restart counts go on from the pod's status) and stops and
// removes those of pods that are gone, with their networks and logs. When
// Run's context ends the agent stops every pod and removes its network,
// unless Config.KeepPodsOnStop; either way it leaves no process, cgroup,
// interface or IP it does not account for.
//
// # Several nodes on one machine
//
// Config.NetNS names the node's network namespace when it is not the
// agent's own: the pod bridge, host veths and peer routes live there,
// hostNetwork pods run there, the log server listens there and probes dial
// from there, while the agent's API client stays in the agent's namespace.
// Each agent also needs its own DataDir, Bridge, NetnsDir and CgroupRoot;
// NoPeerRoutes stays false, since each namespace owns its routes.
// nodeagent/nodeagenttest wires such namespaces to a bridge on the host and
// runs a cluster of them.
//
// # Log server
//
// On Config.LogAddr (NodeIP:10250 by default, in the node's namespace),
// plain HTTP: kubelet's
// GET /containerLogs/{namespace}/{pod}/{container} with follow, previous,
// timestamps, tailLines, limitBytes, sinceSeconds and sinceTime, for a
// caller bearing the node's own token (the API server, proxying pods/log);
// /healthz; and /metrics (shoal_nodeagent_*: pods, pods_running,
// container_restarts_total, pod_sync_duration_seconds,
// pod_status_writes_total, lease_renewals_total, and the probe metrics).
package nodeagent
