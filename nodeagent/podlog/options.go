package podlog

import (
	"errors"
	"time"
)

// ErrNotFound means there is no such log: no such pod, container or
// instance (a previous one, say).
var ErrNotFound = errors.New("not found")

// LogOptions select what Read writes; they mean what Kubernetes'
// PodLogOptions mean (kubectl logs -f, --previous, --timestamps, --tail,
// --since, --since-time, --limit-bytes).
type LogOptions struct {
	// Follow keeps writing what a running container logs, through
	// rotations, until it exits or ctx ends.
	Follow bool
	// Previous asks for the instance before the current one (the one
	// before a restart); the reader of files leaves it to its caller,
	// which picks the file. It is never followed.
	Previous   bool
	Timestamps bool      // prefix each line with its RFC 3339 time
	TailLines  *int64    // only the last lines of what is logged so far
	SinceTime  time.Time // only lines logged at or after; zero = all
	LimitBytes *int64    // stop after this many bytes
}
