package api

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Object is what the store keeps: a Kubernetes object with metadata.
type Object interface {
	runtime.Object
	metav1.Object
}

// Resource describes one kind the store keeps and where it lives in etcd.
type Resource struct {
	GroupVersion schema.GroupVersion
	Kind         string
	Name         string // plural, lower case: "services"
	Namespaced   bool
	// Prefix is the etcd key prefix, ending in "/": "/registry/services/specs/".
	Prefix string
	// New returns an empty object of the kind.
	New func() Object
	// Fields returns the fields a field selector can test, beyond
	// metadata.name and metadata.namespace (pods: status.phase, spec.nodeName).
	Fields func(Object) fields.Set
}

// GroupVersionKind of the resource's objects.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion.WithKind(r.Kind)
}

// GroupResource names the resource in errors.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.GroupVersion.Group, Resource: r.Name}
}

// Key is the etcd key of an object.
func (r *Resource) Key(namespace, name string) string {
	if r.Namespaced {
		return r.Prefix + namespace + "/" + name
	}
	return r.Prefix + name
}

// SplitKey returns the namespace and name in an etcd key of r: the inverse
// of Key.
func (r *Resource) SplitKey(key string) (namespace, name string) {
	rest := strings.TrimPrefix(key, r.Prefix)
	if !r.Namespaced {
		return "", rest
	}
	ns, name, _ := strings.Cut(rest, "/")
	return ns, name
}

// ListPrefix is the key prefix of every object in namespace ("" for all).
func (r *Resource) ListPrefix(namespace string) string {
	if r.Namespaced && namespace != "" {
		return r.Prefix + namespace + "/"
	}
	return r.Prefix
}

// FieldSet is the set of fields a field selector can test on obj.
func (r *Resource) FieldSet(obj Object) fields.Set {
	set := fields.Set{"metadata.name": obj.GetName()}
	if r.Namespaced {
		set["metadata.namespace"] = obj.GetNamespace()
	}
	if r.Fields != nil {
		for k, v := range r.Fields(obj) {
			set[k] = v
		}
	}
	return set
}
