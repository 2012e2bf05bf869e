// Package cluster is Shoal's CoreDNS plugin for the cluster zone. As in
// CoreDNS, its folder, package and directive share one name: the directive
// `cluster` answers the Kubernetes DNS specification (schema 1.1.0) from the
// registry, as CoreDNS's own `kubernetes` plugin does, but from Shoal's
// shared watch caches instead of client-go informers.
//
// Every change the caches deliver is folded into an immutable answer index
// (lower-cased name → prebuilt records, plus which names exist at all), which
// is swapped atomically; a query takes no lock, makes no etcd call and copies
// only the records it returns.
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
