// Package openapi describes the resources Shoal serves in OpenAPI, as
// kube-apiserver does: /openapi/v2 and the /openapi/v3 group-version
// documents that `kubectl explain`, kubectl's validation and its apply
// read, and the definitions server-side apply merges with.
//
// kube-apiserver compiles in the definitions Kubernetes' generator,
// openapi-gen, writes from the k8s.io/api sources (a 1.2 MB generated
// file for the groups Shoal serves). This package makes the same
// definitions when the process starts instead, from what the compiled
// types carry: Definitions walks the Go types by reflection as openapi-gen
// walks their source (definitions.go: fields, json and patch tags, the
// schema methods of Time, Quantity and IntOrString, the OpenAPIModelName
// methods openapi-gen generated into k8s.io/api), with the descriptions
// genswaggertypedocs generated into k8s.io/api (SwaggerDoc), the list and
// map markers from the structured-merge-diff schema client-go generated
// from the same OpenAPI (markers.go), and the little that lives only in
// comments from comments.json (comments.go). TestOpenAPIGen runs openapi-gen
// itself (the version go.mod's tool directive names) and checks that the
// result is exactly its output, definition by definition.
//
// Build feeds them to kube-openapi's own builders with the paths of the
// served resources (routes.go), Handler serves the documents with
// kube-openapi's handlers, and Specs.TypeConverter is what
// k8s.io/apimachinery's field manager needs for server-side apply.
package openapi
