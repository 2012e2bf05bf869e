package openapi

import (
	"reflect"

	"k8s.io/kube-openapi/pkg/common"
)

// Reflected is what Definitions makes of resources before comments.json,
// and the Go type of each definition.
func Reflected(resources []Resource) (map[string]common.OpenAPIDefinition, map[string]reflect.Type) {
	g := reflected(roots(resources))
	return g.defs, g.types
}

// DefinitionsOf is Definitions of resources' types.
func DefinitionsOf(resources []Resource) (map[string]common.OpenAPIDefinition, error) {
	return Definitions(roots(resources))
}

// SetComments replaces comments.json for the rest of the test binary.
func SetComments(b []byte) {
	commentsJSON = b
	sharedComments = onceComments()
}
