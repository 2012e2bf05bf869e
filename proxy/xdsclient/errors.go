package xdsclient

import (
	"errors"
	"fmt"
)

// Sentinel errors of validation; a ResourceError wraps one of them.
var (
	ErrNoAddress      = errors.New("no socket address")
	ErrFilterChain    = errors.New("need exactly one filter chain with exactly one filter")
	ErrUDPFilter      = errors.New("need no filter chains and exactly one listener filter (udp_proxy)")
	ErrUnsupported    = errors.New("unsupported")
	ErrMalformed      = errors.New("malformed")
	ErrDuplicate      = errors.New("duplicate")
	ErrAddressInUse   = errors.New("address used by another listener")
	errNoConfig       = errors.New("xdsclient: Addr and NodeID are required")
	errRunning        = errors.New("xdsclient: Run is already running")
	errUnexpectedType = errors.New("unexpected resource type")
)

// ResourceError is a problem with one resource. Validation returns it, and
// a Handler may return it from Apply so that the NACK names the resource.
type ResourceError struct {
	Type Type   // the resource's xDS type
	Name string // the resource's name
	Err  error
}

func (e *ResourceError) Error() string { return fmt.Sprintf("%s %s: %v", e.Type, e.Name, e.Err) }
func (e *ResourceError) Unwrap() error { return e.Err }

func resErr(t Type, name string, err error) error {
	return &ResourceError{Type: t, Name: name, Err: err}
}
