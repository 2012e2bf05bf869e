package auth

import (
	"fmt"
	"strings"
)

// ServiceAccount users, as Kubernetes names them: the user
// system:serviceaccount:<namespace>:<name>, in the groups
// system:serviceaccounts and system:serviceaccounts:<namespace>.
const (
	serviceAccountUserPrefix = "system:serviceaccount:"
	serviceAccountsGroup     = "system:serviceaccounts"
)

// ServiceAccountUsername is the user name of ServiceAccount namespace/name.
func ServiceAccountUsername(namespace, name string) string {
	return serviceAccountUserPrefix + namespace + ":" + name
}

// SplitServiceAccountUsername returns the namespace and name of a
// ServiceAccount's user name, or an error if username is not one.
func SplitServiceAccountUsername(username string) (namespace, name string, err error) {
	rest, ok := strings.CutPrefix(username, serviceAccountUserPrefix)
	if !ok {
		return "", "", fmt.Errorf("username %q is not a service account user name", username)
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", fmt.Errorf("username %q is not a service account user name", username)
	}
	return namespace, name, nil
}

// ServiceAccountGroups are the groups every ServiceAccount of namespace is in
// (besides system:authenticated).
func ServiceAccountGroups(namespace string) []string {
	return []string{serviceAccountsGroup, serviceAccountsGroup + ":" + namespace}
}
