package nodeagent

import "errors"

var (
	// ErrInvalidConfig wraps every Config problem New reports.
	ErrInvalidConfig = errors.New("invalid node agent config")
	// ErrUnsupported means this machine or process cannot run an agent
	// (not root, no CAP_NET_ADMIN, no cgroups); the error says what is
	// missing.
	ErrUnsupported = errors.New("node agent unsupported here")
)
