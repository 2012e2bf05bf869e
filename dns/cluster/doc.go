// Package cluster is Shoal's CoreDNS plugin for the cluster zone. As in
// CoreDNS, its folder, package and directive share one name: the directive
// `cluster` answers the Kubernetes DNS specification (schema 1.1.0) from the
// registry, as CoreDNS's own `kubernetes` plugin does, but from Shoal's
// shared watch caches instead of client-go informers.
//
// The plugin keeps only what its answers need of each object (trim, as
// CoreDNS's object package does). Every change the caches deliver is folded
// into an immutable answer index (a service's lower-cased name → what the
// service answers; an address → the claims on its PTR record), which is
// swapped atomically. A query takes no lock and makes no etcd call; the
// common answers are packed from the index straight into the reply's bytes
// (wire.go), the others built as *dns.Msg (lookup.go).
//
//	cluster.local in-addr.arpa ip6.arpa {
//	    cluster {
//	        pods verified
//	        ttl 5
//	        fallthrough in-addr.arpa ip6.arpa
//	    }
//	    autopath @cluster
//	}
//
// Without `endpoint` the plugin reads the caches the process registered with
// UseCaches (shoal up); with `endpoint URL...` it connects to etcd itself
// (shoal dns). See README.md for every option.
package cluster
