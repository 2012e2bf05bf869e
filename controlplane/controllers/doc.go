// Package controllers makes what operators ask for true: EndpointSlices and
// Endpoints for label-selected Services, Deployments → ReplicaSets → Pods
// with rolling updates, garbage collection through ownerReferences, node
// lifecycle (nodes whose Lease stops are marked NotReady and their pods
// moved), and Events for what they did.
//
// Controllers read from the process's shared caches (store.Caches), act on
// their events by queueing object keys, and reconcile each key from the
// cached state: a missed or repeated event changes nothing. They write
// through registry.Registry, so every write meets the same rules as one
// through the API server. With several control-plane replicas, one leader
// (elected through etcd) runs them.
package controllers
