package apiserver

import (
	"net/http"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Serving a resource at a version other than the one it is stored at
// (registry.ServedVersions: HorizontalPodAutoscalers at autoscaling/v1):
// bodies are decoded as the request's version and converted to the stored
// one; answers are converted back. Tables are built from the stored
// objects, whose printer is the same for every version.

// wire is the resource as the request's version shows it: ri.Info, or,
// for another served version, a descriptor of that version's objects.
func (ri requestInfo) wire() *registry.Info {
	v := ri.Served
	if v == nil {
		return ri.Info
	}
	res := *v.Stored.Resource
	res.GroupVersion, res.New = v.GroupVersion, v.New
	info := *v.Stored
	info.Resource = &res
	return &info
}

// external converts stored objects to the request's version.
func external(ri requestInfo, objs []store.Object) ([]store.Object, error) {
	if ri.Served == nil {
		return objs, nil
	}
	out := make([]store.Object, len(objs))
	for i, o := range objs {
		e, err := ri.Served.FromStored(o)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// decode decodes a request body as the request's version of the resource
// and converts it to the stored version.
func decode(r *http.Request, ri requestInfo, body []byte, validation string) (store.Object, []string, error) {
	obj, warnings, err := decodeObject(r, ri.wire(), body, validation)
	if err != nil || ri.Served == nil {
		return obj, warnings, err
	}
	stored, err := ri.Served.ToStored(obj)
	if err != nil {
		return nil, nil, err
	}
	stored.GetObjectKind().SetGroupVersionKind(ri.Info.GroupVersionKind())
	return stored, warnings, nil
}
