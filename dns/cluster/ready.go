package cluster

// Ready implements CoreDNS's ready.Readiness: true once the registry has
// been read in full and the first answers are built.
func (c *Cluster) Ready() bool { return c.index.Load() != nil }
