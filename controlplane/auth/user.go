package auth

import (
	"slices"
	"strings"
)

// Users and groups Shoal creates and authorizes.
const (
	AdminUser  = "admin"
	ViewerUser = "viewer"

	GroupMasters = "system:masters"
	GroupViewers = "shoal:viewers"
	GroupNodes   = "system:nodes"

	// GroupAuthenticated is every authenticated user's group, whatever
	// authenticated it (a static token, a node token, a ServiceAccount
	// token), as Kubernetes adds it; the default bindings name it.
	GroupAuthenticated = "system:authenticated"
	// GroupUnauthenticated is the group of requests without credentials.
	GroupUnauthenticated = "system:unauthenticated"

	// NodeUserPrefix starts a node's user name: system:node:<node name>.
	NodeUserPrefix = "system:node:"
)

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
	// Extra is what an authenticator or an impersonating client
	// (Impersonate-Extra-<key>) says about the user beyond its groups.
	Extra map[string][]string
}

// NodeUser returns the user name a node's token is issued to.
func NodeUser(nodeName string) string {
	return NodeUserPrefix + nodeName
}

// NodeName returns the node u acts for, if u is a node: a system:node:<name>
// user in the system:nodes group, as Kubernetes' Node authorizer requires.
func NodeName(u *User) (string, bool) {
	if u == nil || !u.InGroup(GroupNodes) {
		return "", false
	}
	name, ok := strings.CutPrefix(u.Name, NodeUserPrefix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// InGroup reports whether u is in group.
func (u *User) InGroup(group string) bool {
	return slices.Contains(u.Groups, group)
}

// Authenticated returns u as the authorizer must see it: in
// system:authenticated. u is returned as it is when it already is; else a
// copy is (authenticators share their User values).
func Authenticated(u *User) *User {
	if u.InGroup(GroupAuthenticated) {
		return u
	}
	c := *u
	c.Groups = append(slices.Clip(u.Groups), GroupAuthenticated)
	return &c
}
