package auth

import "strings"

// Users and groups Shoal creates and authorizes.
const (
	AdminUser  = "admin"
	ViewerUser = "viewer"

	GroupMasters = "system:masters"
	GroupViewers = "shoal:viewers"
	GroupNodes   = "system:nodes"

	// NodeUserPrefix starts a node's user name: system:node:<node name>.
	NodeUserPrefix = "system:node:"
)

// User is an authenticated caller.
type User struct {
	Name   string
	UID    string
	Groups []string
}

// NodeUser returns the user name a node's token is issued to.
func NodeUser(nodeName string) string {
	return NodeUserPrefix + nodeName
}

// NodeName returns the node u acts for, if u is a node: a system:node:<name>
// user in the system:nodes group, as Kubernetes' Node authorizer requires.
func NodeName(u *User) (string, bool) {
	if u == nil || !u.inGroup(GroupNodes) {
		return "", false
	}
	name, ok := strings.CutPrefix(u.Name, NodeUserPrefix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

func (u *User) inGroup(group string) bool {
	for _, g := range u.Groups {
		if g == group {
			return true
		}
	}
	return false
}
