package registry

import (
	"fmt"
	"strings"
	"sync"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
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
	for i := range out {
		if out[i].Kind == ServiceAccounts.Kind {
			out[i].Creates = []openapi.Subresource{{Name: "token",
				GVK: authnv1.SchemeGroupVersion.WithKind("TokenRequest"), Object: &authnv1.TokenRequest{}}}
		}
	}
	return append(out, createOnly...), nil
}

// createOnly are the resources the API server answers without storing
// anything (controlplane/apiserver/review.go): `kubectl auth can-i` and
// `kubectl auth whoami` create them.
var createOnly = []openapi.Resource{
	review(authzv1.SchemeGroupVersion, "LocalSubjectAccessReview", true, &authzv1.LocalSubjectAccessReview{}),
	review(authzv1.SchemeGroupVersion, "SelfSubjectAccessReview", false, &authzv1.SelfSubjectAccessReview{}),
	review(authzv1.SchemeGroupVersion, "SelfSubjectRulesReview", false, &authzv1.SelfSubjectRulesReview{}),
	review(authzv1.SchemeGroupVersion, "SubjectAccessReview", false, &authzv1.SubjectAccessReview{}),
	review(authnv1.SchemeGroupVersion, "SelfSubjectReview", false, &authnv1.SelfSubjectReview{}),
}

func review(gv schema.GroupVersion, kind string, namespaced bool, obj runtime.Object) openapi.Resource {
	return openapi.Resource{GroupVersion: gv, Kind: kind, Name: strings.ToLower(kind) + "s", Namespaced: namespaced,
		Object: obj, CreateOnly: true}
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
