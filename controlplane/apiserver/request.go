package apiserver

import (
	"net/http"
	"strings"

	"github.com/shoalmesh/shoal/controlplane/registry"
)

// requestInfo is what a resource request names, parsed from its path as
// Kubernetes does: /api/v1/namespaces/{ns}/{resource}/{name}/{subresource}.
type requestInfo struct {
	Group, Version string
	Namespace      string
	Resource       string
	Name           string
	Subresource    string
	Verb           string
	// Info is the served resource, nil if the path names none we serve.
	Info *registry.Info
	// Served is set when the path names Info at a version other than the
	// stored one, whose objects are converted (versions.go).
	Served *registry.ServedVersion
}

// parseResourcePath parses path; ok is false for non-resource paths
// (discovery, /version, /healthz) which are served separately.
func parseResourcePath(r *http.Request) (ri requestInfo, ok bool) {
	parts := splitPath(r.URL.Path)
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		ri.Version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		ri.Group, ri.Version, parts = parts[1], parts[2], parts[3:]
	default:
		return ri, false
	}
	// The deprecated /watch/ prefix.
	watchPath := false
	if parts[0] == "watch" {
		watchPath, parts = true, parts[1:]
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		ri.Namespace = parts[1]
		if len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		} else {
			// A namespace itself: /namespaces/{name}[/status].
			ri.Namespace = ""
			ri.Resource, ri.Name = "namespaces", parts[1]
			if len(parts) >= 3 {
				ri.Subresource = parts[2]
			}
			parts = nil
		}
	}
	if len(parts) > 0 {
		ri.Resource = parts[0]
	}
	if len(parts) > 1 {
		ri.Name = parts[1]
	}
	if len(parts) > 2 {
		ri.Subresource = strings.Join(parts[2:], "/")
	}
	ri.Verb = verbOf(r, ri.Name, watchPath)
	for _, info := range registry.All {
		if info.Name == ri.Resource && info.GroupVersion.Group == ri.Group && info.GroupVersion.Version == ri.Version {
			ri.Info = info
		}
	}
	if v := registry.ServedVersionOf(ri.Group, ri.Version, ri.Resource); ri.Info == nil && v != nil {
		ri.Info, ri.Served = v.Stored, v
	}
	return ri, true
}

func verbOf(r *http.Request, name string, watchPath bool) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if watchPath || isTrue(r.URL.Query().Get("watch")) {
			return "watch"
		}
		if name == "" {
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

func isTrue(s string) bool { return s == "true" || s == "1" }

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
