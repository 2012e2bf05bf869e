// Package apiserver is Shoal's Kubernetes API: discovery, REST handlers for
// the resources the registry serves (get, list, watch, create, update, patch,
// delete, and the status and scale subresources), Table output for kubectl,
// over HTTPS.
//
// Every request is authenticated by bearer token, may act as another user
// through the impersonation headers, and is authorized by kube-apiserver's
// chain (auth.Authorizer: Node, system:masters, RBAC). Writes of RBAC
// objects are checked for escalation; the authorization.k8s.io and
// authentication.k8s.io reviews answer `kubectl auth can-i` and `whoami`.
//
// It is a thin HTTP layer: every write goes through registry.Registry, every
// read through store.Store, so the same rules hold for in-process writers.
package apiserver
