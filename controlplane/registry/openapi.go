package registry

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/shoalmesh/shoal/controlplane/openapi"
)

// OpenAPIResources is every resource the registry serves, at each version
// it is served at, as package openapi describes them.
func OpenAPIResources() ([]openapi.Resource, error) {
	var out []openapi.Resource
	add := func(info *Info, gv schema.GroupVersion, obj runtime.Object) error {
		list, err := clientscheme.Scheme.New(gv.WithKind(info.ListKind))
		if err != nil {
			return fmt.Errorf("openapi resources: %s: %w", info.Name, err)
		}
		out = append(out, openapi.Resource{GroupVersion: gv, Kind: info.Kind, Name: info.Name, Namespaced: info.Namespaced,
			Status: info.Status, Scale: info.Scale, Object: obj, List: list})
		return nil
	}
	for _, info := range All {
		if err := add(info, info.GroupVersion, info.New()); err != nil {
			return nil, err
		}
	}
	for _, v := range ServedVersions {
		if err := add(v.Stored, v.GroupVersion, v.New()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Schemas are the OpenAPI documents of every served resource, built once
// per process: the API server serves them and server-side apply merges
// with them.
var Schemas = sync.OnceValues(func() (*openapi.Specs, error) {
	resources, err := OpenAPIResources()
	if err != nil {
		return nil, err
	}
	return openapi.Build(resources)
})
