// Package server is a node agent's HTTPS server, in the role of the
// kubelet's port 10250: the API server proxies `kubectl exec`, `attach`,
// `port-forward` (and so `cp`) and `logs` to it.
//
//	GET|POST /exec/{namespace}/{pod}/{container}?command=…&stdin=1&stdout=1&stderr=1&tty=1
//	GET|POST /attach/{namespace}/{pod}/{container}?stdin=1&stdout=1&stderr=1&tty=1
//	GET|POST /portForward/{namespace}/{pod}
//	GET      /containerLogs/{namespace}/{pod}/{container}?follow&previous&timestamps
//	         &sinceSeconds&sinceTime&tailLines&limitBytes
//	GET      /healthz, /metrics (open: they name no pod)
//
// Exec, attach and port-forward work as the kubelet's do: the server asks
// the container runtime over CRI (Exec, Attach, PortForward) for a
// single-use streaming URL and proxies the caller's upgraded connection
// (SPDY, or WebSocket up to v4.channel.k8s.io, which is what containerd's
// stream server speaks) to it with apimachinery's UpgradeAwareHandler.
// The API server translates newer clients' WebSocket v5 and tunnelled
// port-forward into SPDY before they get here.
//
// # Who may call
//
// The server speaks TLS with a serving certificate for the node's name and
// IP signed by the cluster CA (LoadOrRequestCertificate asks the API server
// for it with the node's token). Streams and logs are served only to a
// client certificate of the cluster CA with the API server's subject
// (api.AgentClientCommonName, api.AgentClientOrganization): no certificate,
// or one of another CA, is 401; another subject is 403. A node token is not
// accepted: the API server authorizes the user (verb create on pods/exec
// and so on) before it proxies here, and only it holds that certificate.
//
//	srv, err := server.New(server.Config{
//		NodeName: "node-1",
//		Pods:     pods,             // the agent's pods: container and sandbox IDs, logs
//		Runtime:  rt.Runtime,       // CRI: Exec, Attach, PortForward
//		TLS:      cert,             // from LoadOrRequestCertificate
//		Metrics:  registry,
//	})
//	err = srv.Serve(ctx, ln)
package server
