package l4

import "errors"

var (
	// ErrProxyClosed is returned by Serve after Shutdown.
	ErrProxyClosed = errors.New("l4: proxy closed")
	// ErrNoEndpoint means the cluster had no eligible endpoint.
	ErrNoEndpoint = errors.New("no eligible endpoint")
	// ErrTooManyFlows means a UDP proxy is at UDPOptions.MaxFlows.
	ErrTooManyFlows = errors.New("too many UDP flows")
)
