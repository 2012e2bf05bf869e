package openapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// comments.json holds what openapi-gen reads from Go comments and nothing
// at run time can see: +enum types' values and the "Possible enum values"
// lines it adds to their fields' descriptions, +optional and +required
// where they overrule omitempty, +default values, the union markers, the
// +listType of the few lists client-go's schema does not carry, and the
// doc comments of the few types that have no SwaggerDoc (Time, Quantity,
// IntOrString, RawExtension). It is, per definition, the JSON merge patch
// (RFC 7386) from what reflection builds to what openapi-gen generates for
// the same release of k8s.io/api: TestOpenAPIGen runs openapi-gen and
// checks that applying it gives exactly openapi-gen's definitions;
// `go test ./controlplane/openapi -run TestOpenAPIGen -update` rewrites it.
//
//go:embed comments.json
var commentsJSON []byte

var sharedComments = onceComments()

func onceComments() func() (map[string]json.RawMessage, error) {
	return sync.OnceValues(func() (map[string]json.RawMessage, error) {
		var c map[string]json.RawMessage
		if err := json.Unmarshal(commentsJSON, &c); err != nil {
			return nil, fmt.Errorf("openapi: comments.json: %w", err)
		}
		return c, nil
	})
}

// applyComments merges comments.json into defs.
func applyComments(defs map[string]common.OpenAPIDefinition) error {
	comments, err := sharedComments()
	if err != nil {
		return err
	}
	for name, patch := range comments {
		def, ok := defs[name]
		if !ok {
			continue // a type that no served resource reaches
		}
		s, err := mergeSchema(def.Schema, patch)
		if err != nil {
			return fmt.Errorf("openapi: comments of %s: %w", name, err)
		}
		def.Schema = s
		defs[name] = def
	}
	return nil
}

// mergeSchema applies a JSON merge patch to s.
func mergeSchema(s spec.Schema, patch []byte) (spec.Schema, error) {
	orig, err := json.Marshal(s)
	if err != nil {
		return s, err
	}
	merged, err := jsonpatch.MergePatch(orig, patch)
	if err != nil {
		return s, err
	}
	var out spec.Schema
	if err := json.Unmarshal(merged, &out); err != nil {
		return s, err
	}
	// kube-openapi's v2 builder takes the embedded v2 schema only as a
	// spec.Schema, not as the JSON map a round trip makes of it.
	if v2, ok := out.Extensions[common.ExtensionV2Schema]; ok {
		b, err := json.Marshal(v2)
		if err != nil {
			return s, err
		}
		var v2s spec.Schema
		if err := json.Unmarshal(b, &v2s); err != nil {
			return s, err
		}
		out.Extensions[common.ExtensionV2Schema] = v2s
	}
	return out, nil
}
