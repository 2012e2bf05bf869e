// Package feed keeps an xDS server's resources equal to the translation of
// the registry: it follows the shared Service and EndpointSlice caches,
// collects which Services changed, and after a short coalescing window
// (default 20 ms, at most 50 ms) translates only those and sends the server
// only the resources whose bytes changed. A rollout of 100 pods is a few
// updates, not 100, and an endpoint change re-sends one service's
// ClusterLoadAssignments and nothing else.
//
// It also runs the cluster-wide weight loop: once a period it asks its
// Weigher for endpoint weights (from LRS reports and node load), and
// re-translates the services whose endpoints' weights moved.
package feed
