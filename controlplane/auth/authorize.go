package auth

import (
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Attributes describe one request, as Kubernetes' authorizer sees it. A
// request with NonResourcePath set is a non-resource request (/healthz,
// /version, discovery) and its resource fields are ignored.
type Attributes struct {
	User *User
	// Verb is get, list, watch, create, update, patch, delete or
	// deletecollection for resource requests (or a verb checked on its own,
	// such as impersonate, bind or escalate); the lower-case HTTP method for
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

// Decision is the authorizer's answer to one request.
type Decision struct {
	Allowed bool
	// Reason says why, in Kubernetes' words: the binding that allowed the
	// request (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y"
	// to Group "z"`), or what went wrong resolving the user's roles. A plain
	// denial has none, as in Kubernetes.
	Reason string
	// By names the authorizer that allowed it: "node", "superuser" or
	// "rbac"; "" for a denial.
	By string
}

// RuleResolver is the authorizer at the end of the chain: RBAC (package
// rbac), which answers from the Roles and bindings.
type RuleResolver interface {
	// Authorize reports whether a is allowed, and why.
	Authorize(a Attributes) (allowed bool, reason string)
	// RulesFor returns every rule that applies to u in namespace ("" for
	// the cluster scope alone), and any error resolving them (the rules
	// returned still hold).
	RulesFor(u *User, namespace string) ([]rbacv1.PolicyRule, error)
}

// Authorizer decides as kube-apiserver's default chain does: the Node
// authorizer for users in system:nodes, then system:masters (the superuser
// group, allowed everything), then RBAC. A request allowed by none is denied.
type Authorizer struct {
	// RBAC may be nil: then only nodes and system:masters are allowed
	// anything.
	RBAC RuleResolver
}

// Authorize decides a.
func (z *Authorizer) Authorize(a Attributes) Decision {
	if a.User == nil {
		return Decision{}
	}
	if _, ok := NodeName(a.User); ok && nodeAllowed(a) {
		return Decision{Allowed: true, By: "node"}
	}
	if a.User.InGroup(GroupMasters) {
		return Decision{Allowed: true, By: "superuser"}
	}
	if z.RBAC == nil {
		return Decision{}
	}
	allowed, reason := z.RBAC.Authorize(a)
	if allowed {
		return Decision{Allowed: true, Reason: reason, By: "rbac"}
	}
	return Decision{Reason: reason}
}

// FullAuthority is every permission there is: what cluster-admin grants.
func FullAuthority() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
		{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}},
	}
}

// RulesFor returns what u may do in namespace, as a SelfSubjectRulesReview
// reports it. incomplete is true when an authorizer that cannot list its
// rules (the Node authorizer) may allow more.
func (z *Authorizer) RulesFor(u *User, namespace string) (rules []rbacv1.PolicyRule, incomplete bool, err error) {
	if u.InGroup(GroupMasters) {
		return FullAuthority(), false, nil
	}
	_, incomplete = NodeName(u)
	if z.RBAC == nil {
		return nil, incomplete, nil
	}
	rules, err = z.RBAC.RulesFor(u, namespace)
	return rules, incomplete, err
}

func readOnly(verb string) bool {
	return verb == "get" || verb == "list" || verb == "watch"
}

func writes(verb string) bool {
	return verb == "create" || verb == "update" || verb == "patch"
}

const (
	nodeLeaseNamespace = "kube-node-lease"
	coordinationGroup  = "coordination.k8s.io"
	eventsGroup        = "events.k8s.io"
)

// nodeAllowed is a node's role: read anything (Kubernetes narrows reads of
// secrets and configmaps to a node's own pods; Shoal does not yet), write
// only what the node agent needs to report on itself, and create service
// account tokens (the API server binds them to the node's own pods).
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
	case a.APIGroup == "" && a.Resource == "serviceaccounts" && a.Subresource == "token":
		// Tokens for its pods' projected volumes: the API server also
		// checks that the token is bound to a pod bound to this node.
		return a.Verb == "create"
	case a.APIGroup == "" && a.Resource == "pods" && a.Subresource == "" && a.Verb == "delete":
		// The final delete of a pod it has stopped; the same binding check
		// applies.
		return true
	}
	return false
}

// Forbidden words a denial as Kubernetes' API server does, e.g.
//
//	User "viewer" cannot create resource "services" in API group "" in the namespace "default"
//
// followed by ": " and the authorizer's reason when it gave one. The API
// server puts it after `services is forbidden: ` in its 403.
func Forbidden(a Attributes, reason string) string {
	msg := forbiddenMessage(a)
	if reason != "" {
		msg += ": " + reason
	}
	return msg
}

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
