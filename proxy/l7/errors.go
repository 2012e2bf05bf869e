package l7

import "errors"

var (
	// ErrProxyClosed is returned by Serve after Shutdown.
	ErrProxyClosed = errors.New("l7: proxy closed")
	// ErrNoEndpoint means the cluster had no eligible endpoint.
	ErrNoEndpoint = errors.New("no eligible endpoint")
)

// dialError marks a failed connect to an endpoint: nothing was sent, so
// the request may go to another endpoint.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
