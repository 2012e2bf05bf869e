package server

import "errors"

var (
	// ErrNotFound is what Pods' methods wrap when the pod, the container
	// or its log is not on this node.
	ErrNotFound = errors.New("not found")
	// ErrInvalidConfig is returned by New for a Config it cannot serve.
	ErrInvalidConfig = errors.New("invalid node server config")
)
