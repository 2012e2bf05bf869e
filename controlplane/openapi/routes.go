package openapi

import (
	"net/http"
	"slices"
	"strings"
	"unicode"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
)

// The paths are the REST operations Shoal serves for each resource, named
// and tagged as kube-apiserver's are (readCoreV1NamespacedPod, with
// x-kubernetes-action and x-kubernetes-group-version-kind), which is what
// `kubectl explain` finds a resource's kind by. They are fed to
// kube-openapi's builders as common.Routes, the interface kube-apiserver's
// go-restful routes are adapted to.

// container is the routes of one group version.
type container struct {
	gv     schema.GroupVersion
	root   string
	routes []common.Route
}

func (c *container) RootPath() string                   { return c.root }
func (c *container) PathParameters() []common.Parameter { return nil }
func (c *container) Routes() []common.Route             { return c.routes }
func (c *container) add(r *route)                       { r.gv = c.gv; c.routes = append(c.routes, r) }
func groupPath(gv schema.GroupVersion) string           { return strings.TrimSuffix(gvPrefix(gv), "/") }
func gvPrefix(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version + "/"
	}
	return "/apis/" + gv.Group + "/" + gv.Version + "/"
}

// route is one operation.
type route struct {
	gv                     schema.GroupVersion // of its path; gvk may be another's
	method, path, op, desc string
	action                 string
	gvk                    schema.GroupVersionKind
	params                 []common.Parameter
	body, response         any
	consumes               []string
}

// tag is the operation's tag, its path's group version: core_v1,
// apps_v1, rbacAuthorization_v1.
func (r *route) tag() string {
	name := gvName(r.gv)
	name = strings.TrimSuffix(name, upperFirst(r.gv.Version))
	return strings.ToLower(name[:1]) + name[1:] + "_" + r.gv.Version
}

func (r *route) Method() string                 { return r.method }
func (r *route) Path() string                   { return r.path }
func (r *route) OperationName() string          { return r.op }
func (r *route) Parameters() []common.Parameter { return r.params }
func (r *route) Description() string            { return r.desc }
func (r *route) Consumes() []string             { return r.consumes }
func (r *route) RequestPayloadSample() any      { return r.body }
func (r *route) ResponsePayloadSample() any     { return r.response }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse {
	return []common.StatusCodeResponse{response{http.StatusOK, "OK", r.response}}
}
func (r *route) Produces() []string {
	return []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
}
func (r *route) Metadata() map[string]any {
	return map[string]any{"x-kubernetes-action": r.action, "x-kubernetes-group-version-kind": map[string]any{
		"group": r.gvk.Group, "version": r.gvk.Version, "kind": r.gvk.Kind}}
}

type response struct {
	code  int
	msg   string
	model any
}

func (r response) Code() int       { return r.code }
func (r response) Message() string { return r.msg }
func (r response) Model() any      { return r.model }

// param is a path, query or body parameter.
type param struct {
	name, desc, typ string
	kind            common.ParameterKind
	required        bool
}

func (p param) Name() string               { return p.name }
func (p param) Description() string        { return p.desc }
func (p param) Required() bool             { return p.required }
func (p param) Kind() common.ParameterKind { return p.kind }
func (p param) DataType() string           { return p.typ }
func (p param) AllowMultiple() bool        { return false }

func query(name, typ, desc string) param {
	return param{name: name, typ: typ, desc: desc, kind: common.QueryParameterKind}
}

var (
	pName      = param{name: "name", typ: "string", desc: "name of the object", kind: common.PathParameterKind, required: true}
	pNamespace = param{name: "namespace", typ: "string", desc: "object name and auth scope, such as for teams and projects", kind: common.PathParameterKind, required: true}
	pBody      = param{name: "body", kind: common.BodyParameterKind, required: true}
	pPretty    = query("pretty", "string", "If 'true', then the output is pretty printed.")
	pDryRun    = query("dryRun", "string", "When present, indicates that modifications should not be persisted. The only valid value is: All")
	pManager   = query("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes. It is required for apply requests (application/apply-patch).")
	pForce     = query("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.")
	listParams = []common.Parameter{
		query("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
		query("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
		query("limit", "integer", "limit is a maximum number of responses to return for a list call."),
		query("continue", "string", "The continue option should be set when retrieving more results from the server."),
		query("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
		query("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
		query("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
		query("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
		query("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
		query("timeoutSeconds", "integer", "Timeout for the list/watch call."),
	}
	deleteParams = []common.Parameter{pDryRun,
		query("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
		query("propagationPolicy", "string", "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'."),
	}
	patchTypes = []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
)

// routes are the operations of every resource, one container per group
// version.
func routes(resources []Resource) map[schema.GroupVersion]*container {
	out := map[schema.GroupVersion]*container{}
	for _, r := range resources {
		c := out[r.GroupVersion]
		if c == nil {
			c = &container{gv: r.GroupVersion, root: groupPath(r.GroupVersion)}
			out[r.GroupVersion] = c
		}
		addResource(c, r)
	}
	return out
}

func addResource(c *container, r Resource) {
	gvk := r.GroupVersionKind()
	opName := func(verb, suffix string) string {
		ns := ""
		if r.Namespaced {
			ns = "Namespaced"
		}
		return verb + gvName(r.GroupVersion) + ns + r.Kind + suffix
	}
	prefix := gvPrefix(r.GroupVersion)
	coll := prefix + r.Name
	scoped := []common.Parameter{pPretty}
	if r.Namespaced {
		coll = prefix + "namespaces/{namespace}/" + r.Name
		scoped = append(scoped, pNamespace)
	}
	write := []common.Parameter{pBody, pDryRun, pManager}
	create := &route{method: http.MethodPost, path: coll, op: opName("create", ""), desc: "create " + article(r.Kind),
		action: "post", gvk: gvk, params: slices.Concat(scoped, write), body: r.Object, response: r.Object}
	if r.CreateOnly {
		c.add(create)
		return
	}
	if r.Namespaced {
		c.add(&route{method: http.MethodGet, path: prefix + r.Name, op: "list" + gvName(r.GroupVersion) + r.Kind + "ForAllNamespaces",
			desc: "list or watch objects of kind " + r.Kind, action: "list", gvk: gvk, params: slices.Concat([]common.Parameter{pPretty}, listParams), response: r.List})
	}
	item := coll + "/{name}"
	named := slices.Concat(scoped, []common.Parameter{pName})
	c.add(&route{method: http.MethodGet, path: coll, op: opName("list", ""), desc: "list or watch objects of kind " + r.Kind,
		action: "list", gvk: gvk, params: slices.Concat(scoped, listParams), response: r.List})
	c.add(create)
	c.add(&route{method: http.MethodDelete, path: coll, op: opName("deleteCollection", ""), desc: "delete collection of " + r.Kind,
		action: "deletecollection", gvk: gvk, params: slices.Concat(scoped, []common.Parameter{pBody}, deleteParams, listParams[:5]), body: metav1.DeleteOptions{}, response: metav1.Status{}})
	c.add(&route{method: http.MethodDelete, path: item, op: opName("delete", ""), desc: "delete " + article(r.Kind),
		action: "delete", gvk: gvk, params: slices.Concat(named, []common.Parameter{pBody}, deleteParams), body: metav1.DeleteOptions{}, response: metav1.Status{}})
	addItem(c, item, "", named, gvk, r.Object, opName)
	if r.Status {
		addItem(c, item+"/status", "Status", named, gvk, r.Object, opName)
	}
	if r.Scale {
		addItem(c, item+"/scale", "Scale", named, autoscalingv1.SchemeGroupVersion.WithKind("Scale"), autoscalingv1.Scale{}, opName)
	}
	for _, sub := range r.Creates {
		c.add(&route{method: http.MethodPost, path: item + "/" + sub.Name, op: opName("create", upperFirst(sub.Name)),
			desc: "create " + sub.Name + " of " + article(r.Kind), action: "post", gvk: sub.GVK,
			params: slices.Concat(named, write), body: sub.Object, response: sub.Object})
	}
}

// addItem adds read, replace and patch of an object or a subresource.
func addItem(c *container, path, suffix string, named []common.Parameter, gvk schema.GroupVersionKind, obj any, opName func(string, string) string) {
	what := strings.ToLower(suffix)
	if what == "" {
		what = "the specified " + gvk.Kind
	} else {
		what += " of the specified " + gvk.Kind
	}
	write := slices.Concat(named, []common.Parameter{pBody, pDryRun, pManager})
	c.add(&route{method: http.MethodGet, path: path, op: opName("read", suffix), desc: "read " + what, action: "get", gvk: gvk, params: named, response: obj})
	c.add(&route{method: http.MethodPut, path: path, op: opName("replace", suffix), desc: "replace " + what, action: "put", gvk: gvk, params: write, body: obj, response: obj})
	c.add(&route{method: http.MethodPatch, path: path, op: opName("patch", suffix), desc: "partially update " + what, action: "patch", gvk: gvk,
		params: slices.Concat(write, []common.Parameter{pForce}), body: metav1.Patch{}, response: obj, consumes: patchTypes})
}

// gvName is a group version as operation IDs spell it: CoreV1, AppsV1,
// RbacAuthorizationV1, DiscoveryV1.
func gvName(gv schema.GroupVersion) string {
	g := gv.Group
	if g == "" {
		g = "core"
	}
	g = strings.TrimSuffix(g, ".k8s.io")
	var b strings.Builder
	for _, part := range strings.FieldsFunc(g, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(upperFirst(part))
	}
	return b.String() + upperFirst(gv.Version)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func article(kind string) string {
	if strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
