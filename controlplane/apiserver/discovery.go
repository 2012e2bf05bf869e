package apiserver

import (
	"net/http"
	"runtime"
	"slices"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/shoalmesh/shoal/controlplane/registry"
)

// otherVersions lists the versions of group served besides preferred, the
// version its resources are stored at.
func otherVersions(preferred schema.GroupVersion) []metav1.GroupVersionForDiscovery {
	var out []metav1.GroupVersionForDiscovery
	for _, v := range registry.ServedVersions {
		gv := v.GroupVersion
		if gv.Group == preferred.Group && gv != preferred && !slices.ContainsFunc(out, func(d metav1.GroupVersionForDiscovery) bool { return d.Version == gv.Version }) {
			out = append(out, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version})
		}
	}
	return out
}

// resourcesAt lists the resources served at group/version: those stored
// at it and those converted to it.
func resourcesAt(group, version string) []*registry.Info {
	var out []*registry.Info
	for _, info := range registry.All {
		if info.GroupVersion.Group == group && info.GroupVersion.Version == version {
			out = append(out, info)
		}
	}
	for _, v := range registry.ServedVersions {
		if v.GroupVersion.Group == group && v.GroupVersion.Version == version {
			out = append(out, v.Stored)
		}
	}
	return out
}

// KubernetesVersion is the Kubernetes API level Shoal reports in /version.
// The kubectl dispatcher on these machines picks its own minor version from
// it, so it names one that kubectl release exists for.
var KubernetesVersion = version.Info{Major: "1", Minor: "33", GitVersion: "v1.33.1-shoal"}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	v := KubernetesVersion
	v.GoVersion, v.Compiler, v.Platform = runtime.Version(), runtime.Compiler, runtime.GOOS+"/"+runtime.GOARCH
	writeJSON(w, http.StatusOK, v)
}

// serveAPI answers /api, the legacy core group's versions.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{
			ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host,
		}},
	})
}

// groups lists the named API groups, sorted, with their one version each.
func groups() []metav1.APIGroup {
	seen := map[string]bool{}
	var out []metav1.APIGroup
	for _, info := range registry.All {
		gv := info.GroupVersion
		if gv.Group == "" || seen[gv.Group] {
			continue
		}
		seen[gv.Group] = true
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		out = append(out, metav1.APIGroup{Name: gv.Group, Versions: append([]metav1.GroupVersionForDiscovery{v}, otherVersions(gv)...), PreferredVersion: v})
	}
	for _, g := range []string{"authentication.k8s.io", "authorization.k8s.io"} {
		v := metav1.GroupVersionForDiscovery{GroupVersion: g + "/v1", Version: "v1"}
		out = append(out, metav1.APIGroup{Name: g, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
	}
	mv := metav1.GroupVersionForDiscovery{GroupVersion: metricsGroup + "/" + metricsVersion, Version: metricsVersion}
	out = append(out, metav1.APIGroup{Name: metricsGroup, Versions: []metav1.GroupVersionForDiscovery{mv}, PreferredVersion: mv})
	cv := metav1.GroupVersionForDiscovery{GroupVersion: customMetricsGroup + "/" + customMetricsVersion, Version: customMetricsVersion}
	out = append(out, metav1.APIGroup{Name: customMetricsGroup, Versions: []metav1.GroupVersionForDiscovery{cv}, PreferredVersion: cv})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// serveAPIs answers /apis with the legacy APIGroupList. kubectl asks for the
// aggregated form first and falls back to this when the answer is plain JSON.
func (s *Server) serveAPIs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups:   groups(),
	})
}

func (s *Server) serveGroup(w http.ResponseWriter, r *http.Request, group string) {
	for _, g := range groups() {
		if g.Name == group {
			g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
			writeJSON(w, http.StatusOK, &g)
			return
		}
	}
	http.NotFound(w, r)
}

var (
	verbsAll         = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	verbsNamespaces  = metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}
	verbsSubresource = metav1.Verbs{"get", "patch", "update"}
)

// serveResources answers /api/v1 and /apis/{group}/{version}: the resources
// of one group version with short names and categories, without which kubectl
// says `the server doesn't have a resource type "svc"`.
func (s *Server) serveResources(w http.ResponseWriter, r *http.Request, group, ver string) {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}}
	for _, info := range resourcesAt(group, ver) {
		list.GroupVersion = schema.GroupVersion{Group: group, Version: ver}.String()
		verbs := verbsAll
		if info == registry.Namespaces {
			verbs = verbsNamespaces
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: info.Name, SingularName: info.Singular, Namespaced: info.Namespaced, Kind: info.Kind,
			Verbs: verbs, ShortNames: info.ShortNames, Categories: info.Categories,
		})
		if info.Status {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: info.Name + "/status", Namespaced: info.Namespaced, Kind: info.Kind, Verbs: verbsSubresource})
		}
		if info == registry.Pods {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: "pods/binding", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create"}},
				metav1.APIResource{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}})
		}
		if info == registry.ServiceAccounts {
			list.APIResources = append(list.APIResources, tokenDiscovery())
		}
		if info.Scale {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: info.Name + "/scale", Namespaced: info.Namespaced, Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: verbsSubresource})
		}
	}
	if rs := reviewResources(group); rs != nil && ver == "v1" {
		list.GroupVersion, list.APIResources = group+"/v1", rs
	}
	if group == metricsGroup && ver == metricsVersion {
		list = metricsDiscovery()
	}
	if group == customMetricsGroup && ver == customMetricsVersion {
		list = customMetricsDiscovery()
	}
	if list.GroupVersion == "" {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// serveOpenAPIV2 answers 200 with an empty document: kubectl apply needs the
// endpoint to answer before it validates, and then leaves field validation
// to the server (fieldValidation=Strict), which is where Shoal does it.
func (s *Server) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}
