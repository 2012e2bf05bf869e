// Package auth decides who is calling the API server and what they may do.
//
// Authentication is by bearer token, kept in a file in the static-token CSV
// format Kubernetes' --token-auth-file reads (token,user,uid,"group1,group2"),
// so an existing file works unchanged. Authorization is a fixed set of roles
// keyed by group: system:masters may do everything, shoal:viewers may read
// everything, and system:nodes may read everything and write only their own
// Node, their own Lease, events and pod status.
//
//	tokens, err := auth.LoadOrCreateTokens("/var/lib/shoal/tokens.csv")
//	...
//	user, ok := tokens.Authenticate(r)
//	if !ok {
//		// 401
//	}
//	if ok, reason := auth.Authorize(auth.Attributes{User: user, Verb: "create", Resource: "services", Namespace: "default"}); !ok {
//		// 403: services is forbidden: <reason>
//	}
package auth
