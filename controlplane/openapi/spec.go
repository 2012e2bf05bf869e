package openapi

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Specs are the OpenAPI documents of the served resources, built once.
type Specs struct {
	// V2 is /openapi/v2: every path and definition.
	V2 *spec.Swagger
	// V3 is /openapi/v3/<path>, keyed by path: "api/v1", "apis/apps/v1".
	V3 map[string]*spec3.OpenAPI
	// Models are the v3 definitions with their group-version-kinds: what
	// server-side apply's type converter is built from.
	Models map[string]*spec.Schema
}

// Build makes the documents of resources with kube-openapi's builders,
// from the definitions Definitions makes.
func Build(resources []Resource) (*Specs, error) {
	defs, err := Definitions(roots(resources))
	if err != nil {
		return nil, err
	}
	nm := newNamer(resources)
	info := &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "v1.33.1-shoal"}}
	getDefs := func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
		return withRefs(defs, ref)
	}
	containers := routes(resources)
	var all []common.RouteContainer
	for _, gv := range sortedGVs(containers) {
		all = append(all, containers[gv])
	}
	v2, err := builder.BuildOpenAPISpecFromRoutes(all, &common.Config{
		Info: info, GetDefinitions: getDefs, GetDefinitionName: nm.name,
		GetOperationIDAndTagsFromRoute: operationTags,
		CommonResponses:                map[int]spec.Response{http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("openapi: build v2: %w", err)
	}
	out := &Specs{V2: v2, V3: map[string]*spec3.OpenAPI{}}
	v3cfg := &common.OpenAPIV3Config{Info: info, GetDefinitions: getDefs, GetDefinitionName: nm.name,
		GetOperationIDAndTagsFromRoute: operationTags,
		CommonResponses:                map[int]*spec3.Response{http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}}}
	for gv, c := range containers {
		doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{c}, v3cfg)
		if err != nil {
			return nil, fmt.Errorf("openapi: build v3 %s: %w", gv, err)
		}
		out.V3[strings.TrimPrefix(groupPath(gv), "/")] = doc
	}
	names := slices.Sorted(maps.Keys(defs))
	out.Models, err = builder3.BuildOpenAPIDefinitionsForResources(v3cfg, names...)
	if err != nil {
		return nil, fmt.Errorf("openapi: build v3 definitions: %w", err)
	}
	return out, nil
}

// TypeConverter is server-side apply's view of the schemas: what
// kube-apiserver builds its field managers on.
func (s *Specs) TypeConverter() (managedfields.TypeConverter, error) {
	tc, err := managedfields.NewTypeConverter(s.Models, false)
	if err != nil {
		return nil, fmt.Errorf("openapi: type converter: %w", err)
	}
	return tc, nil
}

// withRefs re-points the references of defs (built for "#/definitions/")
// for ref: the builders ask for v2's and v3's.
func withRefs(defs map[string]common.OpenAPIDefinition, ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	out := make(map[string]common.OpenAPIDefinition, len(defs))
	for name, d := range defs {
		d.Schema = rewriteRefs(d.Schema, ref)
		out[name] = d
	}
	return out
}

func rewriteRefs(s spec.Schema, ref common.ReferenceCallback) spec.Schema {
	if p := s.Ref.String(); p != "" {
		s.Ref = ref(strings.TrimPrefix(p, refPrefix))
	}
	if len(s.Properties) > 0 {
		props := make(map[string]spec.Schema, len(s.Properties))
		for k, v := range s.Properties {
			props[k] = rewriteRefs(v, ref)
		}
		s.Properties = props
	}
	if s.Items != nil && s.Items.Schema != nil {
		item := rewriteRefs(*s.Items.Schema, ref)
		s.Items = &spec.SchemaOrArray{Schema: &item}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		item := rewriteRefs(*s.AdditionalProperties.Schema, ref)
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &item}
	}
	return s
}

func operationTags(r common.Route) (string, []string, error) {
	return r.OperationName(), []string{r.(*route).tag()}, nil
}

func sortedGVs(m map[schema.GroupVersion]*container) []schema.GroupVersion {
	return slices.SortedFunc(maps.Keys(m), func(a, b schema.GroupVersion) int { return strings.Compare(a.String(), b.String()) })
}
