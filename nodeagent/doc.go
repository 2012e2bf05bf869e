// Package nodeagent is Shoal's node agent, its kubelet: it registers the
// node, heartbeats with load reports, and runs the pods the scheduler binds
// to it through CRI, as a client of containerd (nodeagent/containerd),
// with the node side of the pod network (Shoal's CNI plugin, nodeagent/cni:
// the agent sets up the bridge, masquerading and peer routes, links the
// plugin into Config.CNIBinDir and writes its conflist into CNIConfDir for
// containerd) and the probes (nodeagent/probe).
//
// # Use
//
//	if err := nodeagent.Preflight(""); err != nil {
//		// not root, no cgroups, no containerd/runc: say so, run without pods
//	}
//	a, err := nodeagent.New(nodeagent.Config{
//		REST:     &rest.Config{Host: apiURL, BearerToken: nodeToken, TLSClientConfig: rest.TLSClientConfig{CAData: ca}},
//		NodeName: "node-1",
//		DataDir:  "/var/lib/shoal/agent",
//		Logger:   logger,
//	})
//	...
//	err = a.Run(ctx) // until ctx ends; then it stops its pods and its containerd
//
// # The runtime
//
// Run starts a containerd of its own (Config.RuntimeEndpoint names an
// existing one instead) in the node's network namespace, with its config,
// root and log (containerd.log) under DataDir/containerd and its state and
// socket under containerd.DefaultStateDir; registry mirrors and TLS from
// Config.Registries (k3s's registries.yaml). It imports the built-in pause
// image (every sandbox's) and empty image (of image-less containers) and
// the archives of ImagesDir; nothing is pulled to start. containerd that
// dies is logged, the node is reported NotReady ("container runtime is
// down") and it is restarted with a back-off; its containers keep running
// under their shims meanwhile. When Run's context ends the agent stops its
// pods (unless KeepPodsOnStop), then containerd, and removes containerd's
// state, the pods' cgroups (under /<CgroupRoot>) and the bridge: nothing of
// it is left running or mounted.
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
//     daemonEndpoints.kubeletEndpoint.port (the node server's), nodeInfo
//     (with the runtime's name and version) and the Ready, MemoryPressure,
//     DiskPressure and PIDPressure conditions, written every 10 s and at
//     once when one changes. Ready is False while the runtime is down, and
//     after a clean stop that stopped the pods (NodeAgentStopped). A Node
//     deleted under a running agent is registered again with the same pod
//     CIDR.
//   - its Lease, kube-node-lease/<node>: renewed every second
//     (Config.LeaseRenewInterval), the heartbeat the control plane's node
//     monitor times, with the load report (api.SetLoadReport, measured every
//     api.LoadInterval) in the same single write: the
//     node's CPU (from /proc/stat) and memory in use (MemTotal -
//     MemAvailable), the running pods, and per pod its CPU and memory
//     working set (from the runtime's container stats, CRI
//     ListContainerStats, one call for all) and established TCP connections
//     (in its network namespace, /proc/<pause pid>/net/tcp{,6}).
//   - pods/status of its pods, only when it changed: phase, the
//     PodScheduled, Initialized, ContainersReady and Ready conditions (with
//     transition times), hostIP, podIP, startTime, and init and app
//     container statuses (state, lastState, restartCount, ready, started,
//     image, imageID, containerID containerd://…).
//   - Events about its pods, worded as the kubelet's (Pulling, Pulled,
//     Failed, BackOff, Created, Started, Killing, Unhealthy,
//     FailedCreatePodSandBox, FailedMount, FailedPostStartHook, …).
//   - the final delete of a pod it has stopped (gracePeriodSeconds 0, the
//     pod's UID as precondition).
//
// It reads the Secrets named by its pods' imagePullSecrets, and watches the
// pods bound to it (fieldSelector spec.nodeName=<node>) and all Nodes, for
// host-gw routes to their pod CIDRs.
//
// # Pods
//
// Each pod has a worker goroutine. It makes the pod's volumes (emptyDir on
// disk or, for medium Memory, a tmpfs of its sizeLimit; hostPath checked
// by type; the directories of configMap, secret, downwardAPI and projected
// volumes, filled through nodeagent/volume's atomic writer), then its
// sandbox (CRI RunPodSandbox: hostname, the DNS configuration of its
// dnsPolicy, port mappings, the kubelet's labels, a cgroup parent
// /<CgroupRoot>/pod<uid>, its security context, hostNetwork), whose IP is
// the pod's. Then it runs its init containers one at a time, each to
// completion, and then its app containers: the image is made present per
// imagePullPolicy (pulled with the pod's imagePullSecrets; ErrImagePull,
// then ImagePullBackOff with a back-off of 10 s doubling to 5 minutes),
// then CreateContainer with the command and args ($(VAR) expanded; the
// runtime applies the image's entrypoint and cmd by Kubernetes' rules), env
// (value, fieldRef, resourceFieldRef), volume mounts (subPath,
// subPathExpr, readOnly, propagation), the pod's /etc/hosts, CPU shares and
// quota and the memory limit, the security context (runAsUser/Group,
// runAsNonRoot refused with the kubelet's error, readOnlyRootFilesystem,
// capabilities, privileged, allowPrivilegeEscalation, the pod's fsGroup
// and supplementalGroups) and the log path <name>/<restart count>.log in
// the pod's log directory; StartContainer; its postStart hook (a failed
// hook kills it). A container without an image runs from the built-in
// empty image with the node's /usr, /bin, /sbin, /lib* and a few files of
// /etc mounted read-only: a command from the node's filesystem (python3,
// say). A container restarts per restartPolicy after a back-off of 1 s
// doubling to 60 s, back to 1 s after 10 minutes up; meanwhile it waits
// with reason CrashLoopBackOff, or RunContainerError (with the runtime's
// error, e.g. a command not found) when it could not start. lastState
// keeps the last instance's exit code and reason (Completed, Error,
// OOMKilled from the runtime, StartError). Exits are noticed by listing the
// containers every second (the kubelet's PLEG relist). Liveness and
// startup probe failures restart a container; readiness decides its
// Ready. Exec probes and exec hooks run through CRI ExecSync.
//
// # Termination
//
// A pod with a deletionTimestamp (a graceful delete) is marked Ready=False
// first, so that endpoints drop it; then each container runs its preStop
// hook and gets SIGTERM, and SIGKILL after what is left of
// deletionGracePeriodSeconds (CRI StopContainer); then its sandbox,
// cgroups, volumes and logs go and the agent deletes it with grace 0. A
// pod that vanishes outright (force-deleted) is stopped the same way within
// 2 s, with no writes.
//
// Where a pod is in this life is one value per worker, a podState
// (pod_state.go): running; ending, then ended once its sandbox is gone,
// when every container has ended for good (Succeeded or Failed); stopping
// (or removing, for an ended pod) when it is deleted or the agent stops
// without keeping it; stopped; deleted once the final delete is accepted.
// Only the moves drawn there are allowed.
//
// # Restarts of the agent
//
// Sandboxes and containers outlive the agent. A new agent on the same data
// dir lists those labelled with its node in the runtime and adopts the
// sandbox and running containers of pods still bound to the node (nothing
// runs twice; restart counts go on from the pod's status; a container that
// exited meanwhile is reaped with its exit code) and stops and removes
// those of pods that are gone, with their cgroups, volumes and logs.
//
// # Several nodes on one machine
//
// Config.NetNS names the node's network namespace when it is not the
// agent's own: containerd runs there (so the pod bridge, the CNI plugin's
// veths, the shims and the hostNetwork pods live there), as do the peer
// routes and the node server, and probes, hooks and the node server's
// streams dial from there, while the agent's API client stays in the
// agent's namespace. Each agent also needs its own DataDir, Bridge,
// NetnsDir and CgroupRoot; NoPeerRoutes stays false, since each namespace
// owns its routes.
// nodeagent/nodeagenttest wires such namespaces to a bridge on the host and
// runs a cluster of them.
//
// # Node server
//
// On Config.LogAddr (NodeIP:10250 by default, in the node's namespace),
// HTTPS: nodeagent/server, the kubelet's exec, attach, portForward and
// containerLogs endpoints (GET /containerLogs/{namespace}/{pod}/{container}
// with follow, previous, timestamps, tailLines, limitBytes, sinceSeconds
// and sinceTime) for the API server's client certificate only; /healthz;
// and /metrics (shoal_nodeagent_*: pods, pods_running,
// container_restarts_total, image_pulls_total,
// image_pull_duration_seconds, pod_sync_duration_seconds,
// pod_status_writes_total, lease_renewals_total, server_requests_total,
// server_streams, and the probe metrics). Exec, attach and port-forward
// go through the runtime's CRI Exec, Attach and PortForward to its stream
// server (127.0.0.1 in the node's namespace), which the node server
// proxies to; logs are read from the CRI log files (Container, Sandbox and
// Logs resolve pods for it). Its serving certificate is signed by the API
// server on the node's token once the Node is registered, and kept in
// DataDir/pki.
package nodeagent
