// Package resolver runs Shoal's DNS server: CoreDNS's server core
// (core/dnsserver, configured by a Corefile through coredns/caddy) with a
// curated set of CoreDNS's own plugins and Shoal's cluster plugin
// (dns/cluster). Nothing here answers a query itself: forwarding, caching,
// metrics and health are CoreDNS's code.
//
// A server is started from a Corefile and stops when its context ends:
//
//	srv, err := resolver.Start(ctx, resolver.DefaultCorefile("127.0.0.1:10053"), log)
//	if err != nil {
//		return err // a Corefile error names its line: "Corefile:3 - Error during parsing: ..."
//	}
//	<-srv.Done()
//
// StartFile reads the Corefile from a path instead; its reload directive then
// picks up edits to that file.
//
// CoreDNS keeps some state per process (the directive list, the ready
// plugin's list, the prometheus listeners, the standard logger it writes
// to). A process normally runs one server; tests may run several, one after
// another or side by side on different addresses.
package resolver
