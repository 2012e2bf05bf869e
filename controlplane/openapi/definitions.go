package openapi

import (
	"reflect"
	"slices"
	"strings"

	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// generator builds the OpenAPI definitions of Go types as openapi-gen
// writes them (k8s.io/kube-openapi/pkg/generators/openapi.go), reading by
// reflection what openapi-gen reads from the source: fields, json tags,
// patch tags, the methods that give a type its own schema, the model names
// openapi-gen generated (OpenAPIModelName) and the descriptions
// genswaggertypedocs generated (SwaggerDoc). What lives only in comments
// comes from the structured-merge-diff schema client-go ships (markers.go)
// and from comments.json (comments.go).
type generator struct {
	ref     common.ReferenceCallback
	defs    map[string]common.OpenAPIDefinition
	markers *markers
	// types are the Go types defined, by model name.
	types map[string]reflect.Type
}

// Definitions returns the definitions of every type reachable from roots,
// keyed by model name, with references to "#/definitions/<name>": what
// openapi-gen's GetOpenAPIDefinitions returns, so that kube-openapi's
// builders and schemaconv take it as they take kube-apiserver's.
func Definitions(roots []reflect.Type) (map[string]common.OpenAPIDefinition, error) {
	defs := reflected(roots).defs
	if err := applyComments(defs); err != nil {
		return nil, err
	}
	return defs, nil
}

// refPrefix is where Definitions' references point.
const refPrefix = "#/definitions/"

// reflected is Definitions without comments.json.
func reflected(roots []reflect.Type) *generator {
	g := &generator{
		ref:     func(name string) spec.Ref { return spec.MustCreateRef(refPrefix + name) },
		defs:    map[string]common.OpenAPIDefinition{},
		markers: sharedMarkers(),
		types:   map[string]reflect.Type{},
	}
	for _, t := range roots {
		g.define(t)
	}
	return g
}

// ModelName is the OpenAPI name of a named Go type:
// "io.k8s.api.core.v1.Pod".
func ModelName(t reflect.Type) string {
	if n, ok := valueOf(t).(util.OpenAPIModelNamer); ok {
		return n.OpenAPIModelName()
	}
	return util.ToRESTFriendlyName(t.PkgPath() + "." + t.Name())
}

// valueOf is a zero value of t, to call t's value-receiver methods on.
func valueOf(t reflect.Type) any { return reflect.Zero(t).Interface() }

// define adds the definition of struct type t (and of what it refers to)
// and returns its model name.
func (g *generator) define(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := ModelName(t)
	if _, ok := g.defs[name]; ok {
		return name
	}
	g.types[name] = t
	g.defs[name] = common.OpenAPIDefinition{} // breaks cycles (JSONSchemaProps-like types)
	g.defs[name] = g.build(t, name)
	return name
}

// The methods through which a type gives its own schema, as openapi-gen
// looks for them (hasOpenAPIDefinitionMethod and the others).
type (
	definer interface {
		OpenAPIDefinition() common.OpenAPIDefinition
	}
	typeFormater interface {
		OpenAPISchemaType() []string
		OpenAPISchemaFormat() string
	}
	oneOfer interface{ OpenAPIV3OneOfTypes() []string }
)

func (g *generator) build(t reflect.Type, name string) common.OpenAPIDefinition {
	v := valueOf(t)
	if d, ok := v.(definer); ok {
		return d.OpenAPIDefinition()
	}
	desc := swaggerDoc(t)[""]
	if tf, ok := v.(typeFormater); ok {
		v2 := common.OpenAPIDefinition{Schema: spec.Schema{SchemaProps: spec.SchemaProps{
			Description: desc, Type: tf.OpenAPISchemaType(), Format: tf.OpenAPISchemaFormat()}}}
		g.structExtensions(&v2.Schema, name)
		o, ok := v.(oneOfer)
		if !ok {
			return v2
		}
		v3 := common.OpenAPIDefinition{Schema: spec.Schema{SchemaProps: spec.SchemaProps{
			Description: desc, OneOf: common.GenerateOpenAPIV3OneOfSchema(o.OpenAPIV3OneOfTypes()), Format: tf.OpenAPISchemaFormat()}}}
		g.structExtensions(&v3.Schema, name)
		return common.EmbedOpenAPIDefinitionIntoV2Extension(v3, v2)
	}
	s := spec.Schema{SchemaProps: spec.SchemaProps{Description: desc, Type: []string{"object"}}}
	deps := map[string]bool{}
	required := g.members(t, name, &s, deps)
	if len(required) > 0 {
		s.Required = required
	}
	g.structExtensions(&s, name)
	def := common.OpenAPIDefinition{Schema: s}
	for d := range deps {
		def.Dependencies = append(def.Dependencies, d)
	}
	slices.Sort(def.Dependencies)
	return def
}

// members adds the properties of t's fields to s, inlining embedded
// structs tagged `json:",inline"`, and returns the required ones: those
// without omitempty (openapi-gen's isOptional, less the +optional and
// +required comments, which comments.go carries).
func (g *generator) members(t reflect.Type, parent string, s *spec.Schema, deps map[string]bool) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		if f.Anonymous && hasTag && (tag == "" || strings.HasPrefix(tag, ",")) {
			required = append(required, g.members(f.Type, parent, s, deps)...)
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case name == "-":
			continue
		case tag == "":
			name = f.Name
		}
		if !hasOption(opts, "omitempty") {
			required = append(required, name)
		}
		if s.Properties == nil {
			s.Properties = map[string]spec.Schema{}
		}
		s.Properties[name] = g.property(t, f, name, parent, opts, deps)
	}
	return required
}

func hasOption(opts, opt string) bool {
	return slices.Contains(strings.Split(opts, ","), opt)
}

// property is the schema of field f (JSON name) of struct decl, in the
// definition named parent, as openapi-gen's generateProperty writes it.
func (g *generator) property(decl reflect.Type, f reflect.StructField, name, parent, opts string, deps map[string]bool) spec.Schema {
	var p spec.Schema
	g.memberExtensions(&p, f, parent, name)
	p.Description = swaggerDoc(decl)[name]
	if opts == "string" || strings.HasPrefix(opts, "string,") {
		p.Type, p.Format = []string{"string"}, ""
		return p
	}
	if d, ok := enforcedDefault(f.Type, hasOption(opts, "omitempty")); ok {
		p.Default = d
	}
	g.typeOf(&p, f.Type, deps)
	return p
}

// typeOf fills in the type of s for Go type t: a simple type and format,
// an array, a map (additionalProperties), or a reference to a definition.
func (g *generator) typeOf(s *spec.Schema, t reflect.Type, deps map[string]bool) {
	t = deref(t)
	if typ, format := simpleType(t); typ != "" {
		s.Type, s.Format = []string{typ}, format
		return
	}
	switch t.Kind() {
	case reflect.Map:
		s.Type = []string{"object"}
		item := spec.Schema{}
		g.typeOf(&item, t.Elem(), deps)
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &item}
	case reflect.Slice, reflect.Array:
		s.Type = []string{"array"}
		item := spec.Schema{}
		g.typeOf(&item, t.Elem(), deps)
		s.Items = &spec.SchemaOrArray{Schema: &item}
	case reflect.Struct:
		name := g.define(t)
		deps[name] = true
		s.Ref = g.ref(name)
	case reflect.Interface:
		// openapi-gen declares no schema for interfaces.
	}
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// simpleType maps Go's builtin types to OpenAPI's as openapi-gen does
// (common.OpenAPITypeFormat); named types over them are their underlying
// type, as gengo sees an alias.
func simpleType(t reflect.Type) (typ, format string) {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return common.OpenAPITypeFormat("[]byte")
	}
	if t == reflect.TypeFor[any]() {
		return common.OpenAPITypeFormat("interface{}")
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Interface, reflect.Pointer:
		return "", ""
	}
	return common.OpenAPITypeFormat(t.Kind().String())
}

// enforcedDefault is openapi-gen's mustEnforceDefault: the zero value a
// field decodes to when absent, which is its default: {} for a struct
// field, the zero of a builtin one without omitempty. Types that decode
// themselves (Time, Quantity, IntOrString) and pointers, maps and slices
// have none.
func enforcedDefault(t reflect.Type, omitEmpty bool) (any, bool) {
	if customUnmarshal(t) {
		return nil, false
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Array, reflect.Interface:
		return nil, false
	case reflect.Struct:
		if t.NumField() == 1 && t.Field(0).Anonymous {
			return enforcedDefault(t.Field(0).Type, omitEmpty)
		}
		return map[string]any{}, true
	}
	if omitEmpty {
		return nil, false
	}
	typ, _ := simpleType(t)
	switch typ {
	case "string":
		return "", true
	case "boolean":
		return false, true
	case "integer", "number":
		return 0.0, true
	}
	return nil, false
}

var unmarshaler = reflect.TypeFor[interface{ UnmarshalJSON([]byte) error }]()

func customUnmarshal(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer:
		return t.Implements(unmarshaler)
	case reflect.Struct:
		return reflect.PointerTo(t).Implements(unmarshaler)
	}
	return false
}

// swaggerDoc is the documentation genswaggertypedocs generated for t: the
// type's under "", each field's under its JSON name.
func swaggerDoc(t reflect.Type) map[string]string {
	if d, ok := valueOf(t).(interface{ SwaggerDoc() map[string]string }); ok {
		return d.SwaggerDoc()
	}
	return nil
}
