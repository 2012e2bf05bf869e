package serviceaccount

import (
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4/jwt"
)

// DefaultIssuer is the iss of Shoal's tokens and the API server's audience,
// as kubeadm sets --service-account-issuer.
const DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

// Kubernetes' expirations: the default of a TokenRequest, the least it may
// ask for, and the kubelet's projected-volume request (3607 s), whose
// pod-bound tokens the API server makes valid for a year while warning
// after the hour (--service-account-extend-token-expiration, on by
// default), so that a pod whose token refresh is late keeps working.
const (
	DefaultExpirationSeconds  int64 = 3600
	MinExpirationSeconds      int64 = 600
	MaxExpirationSeconds      int64 = 1 << 32
	WarnOnlyExpirationSeconds int64 = 60*60 + 7
	ExtendedExpirationSeconds int64 = 24 * 365 * 60 * 60
	userPrefix                      = "system:serviceaccount:"
	groupAll                        = "system:serviceaccounts"
	groupNamespacePrefix            = "system:serviceaccounts:"
	groupAuthenticated              = "system:authenticated"
)

// privateClaims is the kubernetes.io claim, as Kubernetes writes it.
type privateClaims struct {
	Kubernetes kubernetesClaim `json:"kubernetes.io,omitempty"`
}

type kubernetesClaim struct {
	Namespace string           `json:"namespace,omitempty"`
	Svcacct   ref              `json:"serviceaccount,omitempty"`
	Pod       *ref             `json:"pod,omitempty"`
	Secret    *ref             `json:"secret,omitempty"`
	Node      *ref             `json:"node,omitempty"`
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
}

type ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// UserName is the user a ServiceAccount's tokens authenticate as.
func UserName(namespace, name string) string { return userPrefix + namespace + ":" + name }

// SplitUserName is the inverse of UserName.
func SplitUserName(user string) (namespace, name string, err error) {
	rest, ok := strings.CutPrefix(user, userPrefix)
	namespace, name, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", fmt.Errorf("%q is not a service account user name", user)
	}
	return namespace, name, nil
}

// Groups are the groups of a ServiceAccount of namespace.
func Groups(namespace string) []string {
	return []string{groupAll, groupNamespacePrefix + namespace, groupAuthenticated}
}
