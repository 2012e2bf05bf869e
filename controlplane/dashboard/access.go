package dashboard

import (
	"net/http"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/auth"
)

// Authorizer decides as the API server does; *auth.Authorizer is one.
type Authorizer interface {
	Authorize(a auth.Attributes) auth.Decision
}

var _ Authorizer = (*auth.Authorizer)(nil)

// scope is where a viewer may list a resource: everywhere or in some
// namespaces.
type scope struct {
	all bool
	ns  map[string]bool
}

func (s scope) has(ns string) bool { return s.all || s.ns[ns] }
func (s scope) some() bool         { return s.all || len(s.ns) > 0 }

// rights is what a viewer may see.
type rights struct {
	nodes, nodeLoad                          bool
	services, endpoints, deploys, eventScope scope
}

// any reports whether the viewer may see anything at all.
func (r rights) any() bool {
	return r.nodes || r.services.some() || r.deploys.some() || r.eventScope.some()
}

// sections names what the page may show, for its "not allowed" notes.
func (r rights) sections() map[string]bool {
	return map[string]bool{
		"nodes": r.nodes, "load": r.nodeLoad, "services": r.services.some(),
		"endpoints": r.endpoints.some(), "deployments": r.deploys.some(), "events": r.eventScope.some(),
	}
}

// rightsOf asks the authorizer what u may list: each resource cluster-wide,
// else in each of namespaces.
func (d *Dashboard) rightsOf(u *auth.User, namespaces []string) rights {
	may := func(group, resource, ns string) bool {
		return d.cfg.Authorizer.Authorize(auth.Attributes{User: u, Verb: "list", APIGroup: group, Resource: resource, Namespace: ns}).Allowed
	}
	in := func(group, resource string) scope {
		if may(group, resource, "") {
			return scope{all: true}
		}
		s := scope{ns: map[string]bool{}}
		for _, ns := range namespaces {
			if may(group, resource, ns) {
				s.ns[ns] = true
			}
		}
		return s
	}
	return rights{
		nodes:      may("", api.Nodes.Name, ""),
		nodeLoad:   may(coordinationv1.GroupName, api.Leases.Name, api.NodeLeaseNamespace),
		services:   in("", api.Services.Name),
		endpoints:  in(discoveryv1.GroupName, api.EndpointSlices.Name),
		deploys:    in(appsv1.GroupName, api.Deployments.Name),
		eventScope: in("", api.Events.Name),
	}
}

// sessionPrefix starts the session tokens the login link's code is traded
// for, so they are told from API tokens without a lookup.
const sessionPrefix = "shoal-ui."

// authenticate returns the user of r's bearer token: a dashboard session
// stands for the token it was made from, anything else is checked by the
// API server's authenticators.
func (d *Dashboard) authenticate(r *http.Request) (*auth.User, bool) {
	tok, ok := auth.BearerToken(r)
	if !ok {
		return nil, false
	}
	if strings.HasPrefix(tok, sessionPrefix) {
		real, ok := d.logins.token(tok)
		if !ok {
			return nil, false
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+real)
	}
	u, ok := d.cfg.Authenticate(r)
	if !ok {
		return nil, false
	}
	return auth.Authenticated(u), true
}
