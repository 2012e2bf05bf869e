package apiserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// anonymousUser is the user of requests without credentials; impersonating
// it adds no system:authenticated.
const anonymousUser = "system:anonymous"

// impersonate returns the user the request acts as: requester, unless it
// carries Impersonate-User (with Impersonate-Group, Impersonate-Uid and
// Impersonate-Extra-<key>, as `kubectl --as --as-group --as-uid` send
// them). Each thing impersonated must be allowed to requester with the verb
// impersonate, as Kubernetes checks: users, groups and serviceaccounts in
// the core group, uids and userextras/<key> in authentication.k8s.io. The
// result is what authorization, admission and the logs see.
func (s *Server) impersonate(r *http.Request, requester *auth.User) (*auth.User, error) {
	h := r.Header
	name := h.Get(authnv1.ImpersonateUserHeader)
	groups := h.Values(authnv1.ImpersonateGroupHeader)
	uid := h.Get(authnv1.ImpersonateUIDHeader)
	extra, err := impersonatedExtra(h)
	if err != nil {
		return nil, err
	}
	if name == "" {
		if len(groups) > 0 || len(extra) > 0 || uid != "" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("requested impersonation without impersonating a user: %s, %s and %s* need %s",
				authnv1.ImpersonateGroupHeader, authnv1.ImpersonateUIDHeader, authnv1.ImpersonateUserExtraHeaderPrefix, authnv1.ImpersonateUserHeader))
		}
		return requester, nil
	}

	check := func(a auth.Attributes) error {
		a.User, a.Verb = requester, "impersonate"
		return s.authorize(a)
	}
	u := &auth.User{Name: name, UID: uid}
	if ns, sa, err := auth.SplitServiceAccountUsername(name); err == nil {
		if err := check(auth.Attributes{Resource: "serviceaccounts", Namespace: ns, Name: sa}); err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			// A ServiceAccount's groups are known: they follow from its name.
			u.Groups = auth.ServiceAccountGroups(ns)
		}
	} else if err := check(auth.Attributes{Resource: "users", Name: name}); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := check(auth.Attributes{Resource: "groups", Name: g}); err != nil {
			return nil, err
		}
		u.Groups = append(u.Groups, g)
	}
	for key, values := range extra {
		for _, v := range values {
			if err := check(auth.Attributes{APIGroup: authnv1.GroupName, Resource: "userextras", Subresource: key, Name: v}); err != nil {
				return nil, err
			}
		}
	}
	if len(extra) > 0 {
		u.Extra = extra
	}
	if uid != "" {
		if err := check(auth.Attributes{APIGroup: authnv1.GroupName, Resource: "uids", Name: uid}); err != nil {
			return nil, err
		}
	}
	// As Kubernetes does: an impersonated user other than the anonymous one
	// is authenticated, unless the client named either group itself.
	if name != anonymousUser && !u.InGroup(auth.GroupAuthenticated) && !u.InGroup(auth.GroupUnauthenticated) {
		u.Groups = append(u.Groups, auth.GroupAuthenticated)
	}
	s.log.Debug("impersonating", "user", requester.Name, "as", u.Name, "groups", u.Groups)
	return u, nil
}

// impersonatedExtra reads the Impersonate-Extra-<key> headers: the key is
// lower case and may be percent-encoded (keys may hold characters a header
// name may not).
func impersonatedExtra(h http.Header) (map[string][]string, error) {
	var extra map[string][]string
	for header, values := range h {
		rest, ok := strings.CutPrefix(header, authnv1.ImpersonateUserExtraHeaderPrefix)
		if !ok || rest == "" {
			continue
		}
		key, err := url.PathUnescape(strings.ToLower(rest))
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("malformed %s%s header: %v", authnv1.ImpersonateUserExtraHeaderPrefix, rest, err))
		}
		if extra == nil {
			extra = map[string][]string{}
		}
		extra[key] = append(extra[key], values...)
	}
	return extra, nil
}
