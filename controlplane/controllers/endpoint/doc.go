// Package endpoint is what the two endpoint controllers (packages
// endpointslice and endpoints) share: which pods a service selects, and how
// a selected pod becomes an endpoint.
//
// The controllers keep their own indexes of the shared caches (Pods,
// Services), filled from cache events, because the questions they ask on
// every event ("which services select this pod", "which pods does this
// service select") would otherwise be scans of every object. The indexes
// hold the cache's objects, which are never modified. ServicesOfPodEvent
// turns a pod event into the keys of the services to reconcile, as
// Kubernetes' GetServicesToUpdateOnPodChange does; PodReady, PodIPv4,
// IncludePod, Hostname and FindPort decide what the endpoint of a pod is.
package endpoint
