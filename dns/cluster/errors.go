package cluster

import "errors"

// Errors of setup.
var (
	// ErrNoSource is returned when a `cluster` block names no etcd endpoint
	// and the process registered no shared caches with UseCaches.
	ErrNoSource = errors.New("no etcd endpoint given and no shared caches registered (cluster.UseCaches)")
	// ErrNoForwardZone is returned when every zone given is a reverse zone.
	ErrNoForwardZone = errors.New("at least one non-reverse zone is needed")
)
