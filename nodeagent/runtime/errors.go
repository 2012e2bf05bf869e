package runtime

import "errors"

var (
	// ErrUnsupported means this machine or process cannot run containers:
	// not root, or no usable cgroup hierarchy.
	ErrUnsupported = errors.New("containers unsupported here")
	// ErrInvalidSpec wraps every reason a Spec is rejected before anything runs.
	ErrInvalidSpec = errors.New("invalid container spec")
	// ErrCommandNotFound is the Kubernetes-style "exec: not found" error; its
	// text is what a pod's status message should show.
	ErrCommandNotFound = errors.New("executable file not found in $PATH")
	// ErrAlreadyRunning is returned by Start when the container (same pod UID
	// and name) runs already, in this Runtime or unadopted from an earlier one.
	ErrAlreadyRunning = errors.New("container already running")
	// ErrNotRunning is returned by Signal and Stats on an exited container.
	ErrNotRunning = errors.New("container not running")
	// ErrNotFound is returned by Logs when there is no such log.
	ErrNotFound = errors.New("not found")
	// ErrStateDirLocked is returned by New when another Runtime holds the
	// state directory: one agent per state directory.
	ErrStateDirLocked = errors.New("state directory in use by another runtime")
	// ErrClosed is returned by a closed Runtime and its containers.
	ErrClosed = errors.New("runtime closed")
)
