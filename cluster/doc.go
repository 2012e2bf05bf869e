// Package cluster wires Shoal's parts into the processes the `shoal` binary
// runs: Up starts everything on one machine on an embedded etcd; the same
// parts scale out against an etcd cluster.
package cluster
