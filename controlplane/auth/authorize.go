package auth

import (
	"fmt"
	"strings"
)

// Attributes describe one request, as Kubernetes' authorizer sees it. A
// request with NonResourcePath set is a non-resource request (/healthz,
// /version, discovery) and its resource fields are ignored.
type Attributes struct {
	User *User
	// Verb is get, list, watch, create, update, patch, delete or
	// deletecollection for resource requests; the lower-case HTTP method for
	// non-resource requests.
	Verb        string
	Namespace   string
	Resource    string
	Subresource string
	// Name is the object's name. For create the API server must fill it in
	// from the object's metadata.name, or nodes cannot register themselves.
	Name            string
	APIGroup        string
	NonResourcePath string
}

const (
	nodeLeaseNamespace = "kube-node-lease"
	coordinationGroup  = "coordination.k8s.io"
	eventsGroup        = "events.k8s.io"
)

// Authorize reports whether a.User may do what a describes, and if not the
// reason in Kubernetes' words, e.g.
//
//	User "viewer" cannot create resource "services" in API group "" in the namespace "default"
//
// which the API server puts after `services is forbidden: ` in its 403.
// Permissions granted by each of the user's groups add up.
func Authorize(a Attributes) (allowed bool, reason string) {
	if a.User == nil {
		return false, forbiddenMessage(a)
	}
	if a.NonResourcePath != "" && publicPath(a.NonResourcePath) {
		return true, ""
	}
	for _, g := range a.User.Groups {
		switch g {
		case GroupMasters:
			return true, ""
		case GroupViewers:
			if a.NonResourcePath == "" && readOnly(a.Verb) {
				return true, ""
			}
		case GroupNodes:
			if nodeAllowed(a) {
				return true, ""
			}
		}
	}
	return false, forbiddenMessage(a)
}

// publicPath reports whether any authenticated user may reach path: what
// Kubernetes' system:discovery and system:public-info-viewer roles grant,
// which kubectl needs before it can do anything else.
func publicPath(path string) bool {
	switch path {
	case "/version", "/version/", "/api", "/apis", "/openapi", "/healthz", "/livez", "/readyz":
		return true
	}
	for _, prefix := range []string{"/api/", "/apis/", "/openapi/", "/healthz/", "/livez/", "/readyz/"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

func readOnly(verb string) bool {
	return verb == "get" || verb == "list" || verb == "watch"
}

func writes(verb string) bool {
	return verb == "create" || verb == "update" || verb == "patch"
}

// nodeAllowed is a node's role: read anything (Kubernetes narrows reads of
// secrets and configmaps to a node's own pods; Shoal does not yet), and write
// only what the node agent needs to report on itself.
func nodeAllowed(a Attributes) bool {
	node, ok := NodeName(a.User)
	if !ok || a.NonResourcePath != "" {
		return false
	}
	if readOnly(a.Verb) {
		return true
	}
	switch {
	case a.APIGroup == "" && a.Resource == "nodes":
		// Its own Node and Node status. A create names no object in its
		// path: the API server checks the body's name (CreateRestricted).
		return writes(a.Verb) && (a.Name == node || (a.Verb == "create" && a.Name == "")) && (a.Subresource == "" || a.Subresource == "status")
	case a.APIGroup == coordinationGroup && a.Resource == "leases":
		// Its heartbeat; a create likewise.
		return writes(a.Verb) && a.Namespace == nodeLeaseNamespace && (a.Name == node || (a.Verb == "create" && a.Name == "")) && a.Subresource == ""
	case (a.APIGroup == "" || a.APIGroup == eventsGroup) && a.Resource == "events":
		return a.Verb == "create" && a.Subresource == ""
	case a.APIGroup == "" && a.Resource == "pods" && a.Subresource == "status":
		// Any pod's status as far as this check goes: the API server must
		// also check that the pod is bound to this node (spec.nodeName),
		// which needs the stored object.
		return a.Verb == "update" || a.Verb == "patch"
	case a.APIGroup == "" && a.Resource == "pods" && a.Subresource == "" && a.Verb == "delete":
		// The final delete of a pod it has stopped; the same binding check
		// applies.
		return true
	}
	return false
}

// forbiddenMessage words a denial as Kubernetes' API server does.
func forbiddenMessage(a Attributes) string {
	var name string
	if a.User != nil {
		name = a.User.Name
	}
	if a.NonResourcePath != "" {
		return fmt.Sprintf("User %q cannot %s path %q", name, a.Verb, a.NonResourcePath)
	}
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	if a.Namespace != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.Verb, resource, a.APIGroup, a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.Verb, resource, a.APIGroup)
}

// CreateRestricted checks what a create by u may name, which Authorize
// cannot see (the name is in the body): a node creates only its own Node
// and its own Lease. It returns the reason for a refusal, or "".
func CreateRestricted(u *User, resource, name string) string {
	node, ok := NodeName(u)
	if !ok || (resource != "nodes" && resource != "leases") || name == node {
		return ""
	}
	return fmt.Sprintf("node %q can only create its own %s, not %q", node, resource, name)
}
