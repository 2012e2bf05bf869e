// Package balancer holds one upstream cluster's endpoint set and picks an
// endpoint for each new connection or request.
//
// The set is an immutable snapshot swapped atomically by Update, so Pick
// takes no lock and allocates nothing. Hosts are kept across updates by
// address, so the active counts and outlier state of an endpoint that stays
// survive an EDS push.
//
// The default mode is weighted least request by power of two choices: two
// candidates are drawn at random in proportion to their weights and the one
// with the lower active/weight wins (ties go to the first draw, so an idle
// cluster is spread exactly by weight). RoundRobin is a weighted,
// interleaved round robin kept for comparison.
//
// Passive outlier detection ejects a host after consecutive failures
// reported with Host.Report, for a time that grows with each ejection,
// never ejecting more than MaxEjectionPercent of the hosts.
//
//	c := balancer.New(balancer.Options{})
//	c.Update([]balancer.Endpoint{{Addr: a, Weight: 1}, {Addr: b, Weight: 3}})
//	h, ok := c.Pick(nil)
//	if ok {
//		h.Begin()
//		defer h.End()
//		// ... dial h.Addr(); h.Report(err == nil)
//	}
package balancer
