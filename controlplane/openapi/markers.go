package openapi

import (
	"reflect"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/applyconfigurations"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/validation/spec"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// The +listType, +listMapKey, +mapType and +structType markers are
// comments, which reflection cannot see. Their effect is in the
// structured-merge-diff schema that client-go ships with its apply
// configurations (applyconfiguration-gen's output, made from the OpenAPI
// openapi-gen wrote for the same release of k8s.io/api), so they are read
// back from there. Patch strategies are struct tags, read as such.

// markers is that schema.
type markers struct {
	schema *smdschema.Schema
}

var sharedMarkers = sync.OnceValue(func() *markers {
	// The converter shares one parsed schema among all types; any object
	// reaches it.
	tc := applyconfigurations.NewTypeConverter(clientscheme.Scheme)
	tv, err := tc.ObjectToTyped(&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}})
	if err != nil {
		panic("openapi: client-go's structured-merge-diff schema: " + err.Error())
	}
	return &markers{schema: tv.Schema()}
})

// field returns the schema of field name of the type named parent.
func (m *markers) field(parent, name string) (smdschema.TypeRef, bool) {
	td, ok := m.schema.FindNamedType(parent)
	if !ok || td.Map == nil {
		return smdschema.TypeRef{}, false
	}
	f, ok := td.Map.FindField(name)
	return f.Type, ok
}

// memberExtensions sets the x-kubernetes-* extensions of property name of
// the type named parent, from field f's patch tags and the markers.
func (g *generator) memberExtensions(p *spec.Schema, f reflect.StructField, parent, name string) {
	if v := f.Tag.Get("patchMergeKey"); v != "" {
		p.AddExtension("x-kubernetes-patch-merge-key", v)
	}
	if v := f.Tag.Get("patchStrategy"); v != "" {
		p.AddExtension("x-kubernetes-patch-strategy", v)
	}
	ref, ok := g.markers.field(parent, name)
	if !ok {
		return
	}
	switch {
	case ref.ElementRelationship != nil:
		// A reference to a named type with a +structType or +mapType of
		// its own.
		p.AddExtension("x-kubernetes-map-type", mapType(*ref.ElementRelationship))
	case ref.Inlined.List != nil:
		l := ref.Inlined.List
		switch {
		case l.ElementRelationship == smdschema.Atomic:
			p.AddExtension("x-kubernetes-list-type", "atomic")
		case len(l.Keys) > 0:
			p.AddExtension("x-kubernetes-list-type", "map")
			keys := make([]any, len(l.Keys))
			for i, k := range l.Keys {
				keys[i] = k
			}
			p.AddExtension("x-kubernetes-list-map-keys", keys)
		default:
			p.AddExtension("x-kubernetes-list-type", "set")
		}
	case ref.Inlined.Map != nil && ref.Inlined.Map.ElementRelationship != "":
		p.AddExtension("x-kubernetes-map-type", mapType(ref.Inlined.Map.ElementRelationship))
	}
}

// structExtensions sets the x-kubernetes-map-type of a struct marked
// +structType (or of a named map type marked +mapType).
func (g *generator) structExtensions(s *spec.Schema, name string) {
	td, ok := g.markers.schema.FindNamedType(name)
	if !ok || td.Map == nil || td.Map.ElementRelationship == "" {
		return
	}
	s.AddExtension("x-kubernetes-map-type", mapType(td.Map.ElementRelationship))
}

func mapType(r smdschema.ElementRelationship) string {
	if r == smdschema.Atomic {
		return "atomic"
	}
	return "granular"
}
