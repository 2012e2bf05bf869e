// Package pki keeps the cluster's certificate authority and the API server's
// serving certificate in a directory, so that kubeconfigs written on the first
// start keep working on every later one.
//
// The CA is created once and never replaced: replacing it would invalidate
// every kubeconfig and node credential that embeds it. The serving certificate
// is derived state and is re-issued from the same CA whenever it is missing,
// does not match its key, lacks a requested host, or is about to expire.
//
//	b, err := pki.LoadOrCreate("/var/lib/shoal/pki", []string{"192.168.1.10", "shoal.lan"})
//	if err != nil {
//		return err
//	}
//	srv := &http.Server{Addr: ":6443", Handler: h, TLSConfig: b.ServerTLSConfig()}
//	err = srv.ListenAndServeTLS("", "")
package pki
