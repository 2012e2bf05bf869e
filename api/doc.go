// Package api holds the contracts every part of Shoal shares: the names and
// formats that the API server, the store, DNS, xDS, the node proxy and the
// node agents must agree on.
//
//   - resource.go, resources.go, resources_workloads.go: resource
//     descriptors — which Kubernetes kinds Shoal serves and where each lives
//     in etcd.
//   - annotations.go: the shoal.io/* annotation keys and the values they
//     accept (shoal.io/lb-policy on a Service, shoal.io/load on a node
//     Lease).
//   - load.go: the load report a node agent writes on its Lease and the
//     scheduler, the xDS control plane and the metrics API read.
//   - lrs.go: the names of the LRS load metrics Shoal's proxy reports to
//     the xDS control plane.
//   - traffic.go: the traffic load xDS replicas publish in etcd (request
//     rates and in-flight requests per endpoint, from LRS) and the names of
//     the autoscaling metrics made from it.
//
// It is the leaf of Shoal's dependency graph and must import nothing of
// Shoal's own (k8s.io/api, k8s.io/apimachinery and the standard library
// only), so that any part can name a shared definition without dragging in
// the part that first needed it: DNS names a resource here rather than
// through the registry's validation rules, and the proxy names its load
// metric here rather than through the xDS weight engine. The registry,
// which applies its rules to these resources, re-exports the descriptors
// as registry.Pods and so on. deps_test.go checks these directions.
//
//	st := store.New(client)
//	obj, err := st.Get(ctx, api.Services.Resource, "default", "web")
package api
