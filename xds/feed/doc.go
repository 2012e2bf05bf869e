// Package feed keeps an xDS server's resources equal to the translation of
// the registry: it follows the shared Service and EndpointSlice caches,
// collects which Services changed, and translates only those — at most once
// per coalescing window (default 20 ms, at most 50 ms): a change after a
// quiet spell goes out at once, changes within a window of the last round
// wait for its end and go out together — and sends the server only the
// resources whose bytes changed. A rollout of 100 pods is a few
// updates, not 100, and an endpoint change re-sends one service's
// ClusterLoadAssignments and nothing else.
//
// It also runs the cluster-wide weight loop: once a period it asks its
// Weigher for endpoint weights (from LRS reports and node load), and
// re-translates the services whose endpoints' weights moved.
package feed
