// Package api holds the contracts every part of Shoal shares: the names and
// formats that the API server, the store, DNS, xDS, the node proxy and the
// node agents must agree on.
//
//   - resource.go, resources.go: resource descriptors — which Kubernetes
//     kinds Shoal serves and where each lives in etcd.
//
// It is the leaf of Shoal's dependency graph and must import nothing of
// Shoal's own (k8s.io/api, k8s.io/apimachinery and the standard library
// only), so that any part can name a shared definition without dragging in
// the part that first needed it: DNS names a resource here rather than
// through the registry's validation rules. The registry, which applies its
// rules to these resources, re-exports the descriptors as registry.Pods
// and so on.
//
//	st := store.New(client)
//	obj, err := st.Get(ctx, api.Services.Resource, "default", "web")
package api
