// Package xdsclient is the xDS client of Shoal's node proxy: one ADS stream,
// state of the world, to Shoal's xDS server (package xds/server).
//
// The client subscribes to every Listener and Cluster (wildcard LDS and
// CDS), then to the RouteConfigurations that the Listeners' HTTP connection
// managers name (RDS) and to the ClusterLoadAssignments of the EDS Clusters
// (EDS), and keeps those two subscriptions in step as Listeners and Clusters
// come and go. Shoal's server recognises the proxy by its
// node.user_agent_name, "shoal-proxy", and sends it the outbound socket
// Listeners named "<clusterIP>_<port>" (and "<clusterIP>_<port>/udp" for
// UDP ports).
//
// Every response is decoded and validated, merged with the state accepted
// so far, and handed whole to [Handler.Apply] as an immutable [Snapshot], so
// the data plane swaps its configuration in one step. If validation or
// Apply fails, the response is NACKed with an error_detail naming the
// resource and the reason, and the previous state stays in force (Shoal's
// server then waits for the resource to change rather than re-sending it).
// Otherwise it is ACKed.
//
// What is validated is what the proxy needs: a Listener must have a socket
// address and exactly one filter chain holding exactly one filter, either an
// HTTP connection manager over RDS or a tcp_proxy to one cluster, or, if its
// address is UDP, no filter chain and one listener filter, a udp_proxy to
// one cluster (its deprecated cluster field, or a matcher whose only
// action is on_no_match with a udp_proxy Route); a Cluster
// must be of type EDS; every endpoint must have an IP address and port. A
// route that names a cluster the proxy does not know is not an error here:
// clusters and routes arrive on separate responses in no guaranteed order,
// so the data plane decides (Shoal's proxy holds the listener back until
// the first clusters have come and refuses such a route after that). Only
// malformed routes (no match prefix or path, no single cluster to route
// to) are NACKed here.
//
// In state of the world, LDS and CDS responses carry the full set, so a
// resource missing from one is removed; RDS and EDS responses carry only
// what changed, so their resources are removed only when nothing refers to
// them any more.
//
// If the stream fails, the client keeps the last accepted state (Apply is
// not called), reconnects with exponential back-off and jitter, and
// resubscribes with the versions it holds.
//
// # Usage
//
//	c := xdsclient.New(xdsclient.Config{Addr: "10.0.0.1:18000", NodeID: node}, dataplane)
//	go c.Run(ctx) // returns when ctx is done
package xdsclient
