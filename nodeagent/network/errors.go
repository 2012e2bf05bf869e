package network

import "errors"

var (
	// ErrClosed is returned by calls on a Network after Close or Destroy.
	ErrClosed = errors.New("pod network closed")
	// ErrInvalidConfig wraps every Config problem New reports.
	ErrInvalidConfig = errors.New("invalid network config")
	// ErrInvalidPod wraps every Pod problem Setup reports.
	ErrInvalidPod = errors.New("invalid pod")
	// ErrStateLocked means another Network (in this or another process) owns
	// the state directory.
	ErrStateLocked = errors.New("network state directory in use")
	// ErrNameCollision means two pod UIDs hash to the same sandbox ID; the
	// second pod cannot get a sandbox until the first is torn down.
	ErrNameCollision = errors.New("sandbox name collision")
	// ErrNotBridge means the configured bridge name is taken by another kind
	// of interface.
	ErrNotBridge = errors.New("not a bridge")
)
