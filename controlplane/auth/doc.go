// Package auth decides who is calling the API server and what they may do.
//
// Authentication is by bearer token, kept in a file in the static-token CSV
// format Kubernetes' --token-auth-file reads (token,user,uid,"group1,group2"),
// so an existing file works unchanged. Every authenticated user is also in
// system:authenticated (Authenticated), which the default RBAC bindings name.
//
// Authorization is kube-apiserver's default chain (Authorizer): the Node
// authorizer for system:nodes (a node reads everything and writes only its
// own Node, Lease, events and pods' status), system:masters allowed
// everything, then RBAC (package rbac, a RuleResolver), which answers from
// the Roles, ClusterRoles and their bindings.
//
//	tokens, err := auth.LoadOrCreateTokens("/var/lib/shoal/tokens.csv")
//	...
//	user, ok := tokens.Authenticate(r)
//	if !ok {
//		// 401
//	}
//	a := auth.Attributes{User: auth.Authenticated(user), Verb: "create", Resource: "services", Namespace: "default"}
//	if d := authz.Authorize(a); !d.Allowed {
//		// 403: services is forbidden: <auth.Forbidden(a, d.Reason)>
//	}
package auth
