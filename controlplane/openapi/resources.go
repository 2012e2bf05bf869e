package openapi

import (
	"reflect"
	"slices"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Resource is one served resource at one version: what its paths and
// schemas are made from.
type Resource struct {
	GroupVersion schema.GroupVersion
	Kind         string
	Name         string // plural, lower case: "deployments"
	Namespaced   bool
	// Status and Scale report the status and scale subresources.
	Status, Scale bool
	// Object and List are an object and a list of the kind, for their Go
	// types.
	Object, List runtime.Object
	// CreateOnly marks a resource whose objects are only created and
	// answered, never stored (the access reviews): its one operation is
	// create, and List is nil.
	CreateOnly bool
	// Creates are subresources that only take and answer an object of
	// another kind, as serviceaccounts/token takes a TokenRequest.
	Creates []Subresource
}

// Subresource is a subresource that is only created.
type Subresource struct {
	Name   string // "token"
	GVK    schema.GroupVersionKind
	Object runtime.Object
}

// GroupVersionKind of the resource's objects.
func (r Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion.WithKind(r.Kind)
}

// metaTypes are the types every group version's paths use besides its
// kinds, as kube-apiserver registers them in each (metav1.AddToGroupVersion).
var metaTypes = []any{
	metav1.Status{}, metav1.DeleteOptions{}, metav1.WatchEvent{}, metav1.Patch{},
	metav1.APIResourceList{}, autoscalingv1.Scale{},
}

// roots are the Go types of resources, their lists and the meta types.
func roots(resources []Resource) []reflect.Type {
	var out []reflect.Type
	for _, r := range resources {
		out = append(out, reflect.TypeOf(r.Object).Elem())
		if r.List != nil {
			out = append(out, reflect.TypeOf(r.List).Elem())
		}
		for _, sub := range r.Creates {
			out = append(out, reflect.TypeOf(sub.Object).Elem())
		}
	}
	for _, m := range metaTypes {
		out = append(out, reflect.TypeOf(m))
	}
	return out
}

// namer names definitions as kube-apiserver's does (openapinamer): by
// model name, with the group-version-kinds a type is served as, in the
// x-kubernetes-group-version-kind extension kubectl finds kinds by.
type namer map[string][]any

func newNamer(resources []Resource) namer {
	n := namer{}
	add := func(t reflect.Type, gvk schema.GroupVersionKind) {
		name := ModelName(t)
		v := map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
		if !slices.ContainsFunc(n[name], func(e any) bool { return reflect.DeepEqual(e, v) }) {
			n[name] = append(n[name], v)
		}
	}
	gvs := map[schema.GroupVersion]bool{}
	for _, r := range resources {
		add(reflect.TypeOf(r.Object).Elem(), r.GroupVersionKind())
		if r.List != nil {
			add(reflect.TypeOf(r.List).Elem(), r.GroupVersion.WithKind(r.Kind+"List"))
		}
		for _, sub := range r.Creates {
			add(reflect.TypeOf(sub.Object).Elem(), sub.GVK)
		}
		gvs[r.GroupVersion] = true
	}
	add(reflect.TypeFor[autoscalingv1.Scale](), autoscalingv1.SchemeGroupVersion.WithKind("Scale"))
	for gv := range gvs {
		for _, m := range []any{metav1.Status{}, metav1.DeleteOptions{}, metav1.WatchEvent{}} {
			t := reflect.TypeOf(m)
			add(t, gv.WithKind(t.Name()))
		}
	}
	for name, gvks := range n {
		slices.SortFunc(gvks, func(a, b any) int { return strings.Compare(gvkString(a), gvkString(b)) })
		n[name] = gvks
	}
	return n
}

func gvkString(v any) string {
	m := v.(map[string]any)
	return m["group"].(string) + "/" + m["version"].(string) + "/" + m["kind"].(string)
}

// name is common.Config's GetDefinitionName.
func (n namer) name(name string) (string, spec.Extensions) {
	gvks, ok := n[name]
	if !ok {
		return name, nil
	}
	return name, spec.Extensions{"x-kubernetes-group-version-kind": gvks}
}
