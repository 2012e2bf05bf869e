// Package server is Shoal's xDS server: go-control-plane's ADS and per-type
// services, state of the world and delta, over one LinearCache per resource
// kind, so a change to one resource is sent only to the clients watching it
// (an EndpointSlice change re-sends one ClusterLoadAssignment, not every one).
//
// Listeners come in two sets. Proxyless gRPC clients (node.user_agent_name
// starting with "gRPC") get ApiListeners named like their xds:/// target;
// everyone else (Envoy, Shoal's proxy) gets socket listeners on cluster
// IPs, since Envoy accepts an ApiListener only from its bootstrap.
//
// A NACK is logged once, counted in shoal_xds_nacks_total and answered by
// nothing until the resource changes again: the client keeps its last good
// configuration instead of being re-sent the same bad one in a loop (what
// go-control-plane's SnapshotCache does, 12–16 thousand NACKs/s measured).
//
// Every client sees the same configuration whatever its node.id, which must
// not be empty; several servers fed from the same etcd serve the same
// resources (translation is deterministic), though their version strings
// differ, so a client that moves between servers gets one full update.
package server
