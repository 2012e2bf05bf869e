package encryption

import "errors"

var (
	// ErrNoProvider means a value was written with a key or provider that
	// the configuration does not list, so it cannot be read.
	ErrNoProvider = errors.New("no provider of the encryption configuration can read the value")
	// ErrKeyMismatch means the configuration cannot read what other API
	// servers on the same etcd encrypted: they must share one configuration.
	ErrKeyMismatch = errors.New("the encryption configuration cannot read the values other API servers on this etcd wrote")
)
