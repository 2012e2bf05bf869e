// Package probe runs the node agent's liveness, readiness and startup
// probes with Kubernetes' semantics (k8s.io/api/core/v1 Probe), and tells
// the agent when a container should be restarted or its readiness changed.
//
// # Use
//
// The agent adds each container run when it starts (or is adopted after an
// agent restart), removes it when it stops, and acts on the updates:
//
//	m := probe.New(ctx, probe.Options{Version: version, Logger: logger})
//	defer m.Close()
//	if err := probe.RegisterMetrics(reg); err != nil { ... }
//
//	err := m.Add(probe.Container{
//		PodUID:    pod.UID,
//		PodIP:     pod.Status.PodIP,
//		Spec:      &pod.Spec.Containers[i],
//		ID:        c.ID(),        // a new ID after each restart
//		StartedAt: c.StartedAt(), // initial delays count from here
//		Exec:      execer,        // runs exec probes inside the container
//	})
//
//	for u := range m.Updates() { // closed once the Manager has stopped
//		switch {
//		case u.Kind == probe.Readiness:
//			// set the container's Ready from m.Ready(u.PodUID, u.Container)
//		case u.Kind == probe.Startup && u.Result == probe.Success:
//			// set the container's Started; readiness may follow
//		case u.Result == probe.Failure: // liveness or startup
//			// kill the container and restart it per its restartPolicy,
//			// then Add it again with the new run's ID
//		}
//	}
//
//	m.Remove(pod.UID, name) // or m.RemovePod(pod.UID): stops its probes
//
// Updates are queued without bound, so a slow reader delays nothing, and
// may arrive for a run that has since been replaced or removed: compare
// Update.ContainerID.
//
// # Semantics
//
// Unset fields take Kubernetes' defaults: initialDelaySeconds 0,
// periodSeconds 10, timeoutSeconds 1, successThreshold 1 (always 1 for
// liveness and startup, as the API demands), failureThreshold 3.
//
// Each probe of each container runs on its own goroutine. The first probe
// runs initialDelaySeconds after StartedAt (at once for a container that
// started earlier), then one every periodSeconds. The first probes of
// containers that started before the Manager (adopted by an agent that
// restarted, all at once) are delayed by a random part of a period
// (Options.Rand) so they do not run in lockstep ever after. kubelet delays
// every first probe in its first period instead; Shoal does not delay new
// containers, whose start times spread them anyway, so a new pod is ready
// as soon as it can be.
//
// A probe's state moves to Success after successThreshold successes in a
// row, to Failure after failureThreshold failures in a row; every change
// is an Update. Before any result, kubelet's initial values hold:
// liveness Success, readiness Failure (not ready), startup Unknown.
//
// While a container has a startup probe that has not succeeded, its
// liveness and readiness probes do not run and it is not ready. Once the
// startup probe succeeds it never runs again for that run, readiness runs
// at once and liveness at once or at its initialDelaySeconds (which, as in
// Kubernetes, count from the container's start, not from the end of
// start-up). A startup or liveness Failure means the container is to be
// restarted: that probe stops (kubelet's "on hold") until the container is
// added again with a new ID, when all its probes start over.
//
// Ready is true when the container has started and its readiness probe's
// state is Success; a container without a readiness probe is ready as soon
// as it has started. The Manager does not know whether a container is
// running: the agent decides that, and asks only about containers it has
// added.
//
// # Handlers
//
//   - exec: the command, with $(VAR) replaced from the container's literal
//     env, runs through the Container's Execer. Exit 0 is a Success, any
//     other exit code a Failure, as is the timeout.
//   - httpGet: a GET to scheme://host:port/path, host defaulting to the pod
//     IP and port a number or the name of one of the container's ports.
//     HTTPS certificates are not verified. The probe's httpHeaders are sent,
//     with User-Agent shoal-probe/<Version> and Accept */* unless they set
//     them. 200 <= code < 400 is a Success. Redirects are followed (up to
//     10) only to the same host name, any port; a redirect elsewhere ends
//     the probe with its 3xx code, a Success, as in kubelet. The body is
//     read up to 10 KiB, for failure messages. No proxy, no keep-alive.
//   - tcpSocket: a Success if a connection is accepted.
//   - grpc: grpc.health.v1.Health/Check of the probe's service on the pod
//     IP, in plain text; SERVING is a Success, anything else a Failure.
//
// httpGet, tcpSocket and grpc probes connect through Options.Dial, by
// default DialContext in the process's own network namespace; an agent
// whose node is another namespace dials from inside that one.
//
// A probe that runs past timeoutSeconds fails. A probe that cannot run at
// all (a port name the container lacks, no pod IP, no Execer, an Execer
// error) has an Unknown result that kubelet, and so the Manager, does not
// count: the state stays as it was. The Manager logs it once per streak.
//
// # Metrics
//
// shoal_nodeagent_probe_total{probe_type, result} counts probes by kind
// (liveness, readiness, startup) and raw result (success, failure,
// unknown), and shoal_nodeagent_probe_duration_seconds{probe_type} times
// them; neither names a pod.
package probe
