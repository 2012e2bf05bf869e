package probe

import "errors"

// Sentinel errors. A probe that returns one of them could not be run; its
// result is Unknown and does not count towards any threshold.
var (
	// ErrClosed is returned by Add after the Manager was closed or its
	// context cancelled.
	ErrClosed = errors.New("probe manager closed")
	// ErrInvalidContainer is returned by Add for a Container without a
	// pod UID, a spec or a name.
	ErrInvalidContainer = errors.New("invalid container")
	// ErrNoHandler: the probe has none of exec, httpGet, tcpSocket, grpc.
	ErrNoHandler = errors.New("probe has no handler")
	// ErrPortNotFound: a named port is not among the container's ports.
	ErrPortNotFound = errors.New("port not found")
	// ErrInvalidPort: a port number is outside 1-65535.
	ErrInvalidPort = errors.New("invalid port")
	// ErrNoPodIP: the probe connects to the pod IP and there is none.
	ErrNoPodIP = errors.New("no pod IP")
	// ErrNoExecer: an exec probe on a container without an Execer.
	ErrNoExecer = errors.New("no execer for exec probe")
	// ErrInvalidScheme: httpGet.scheme is neither HTTP nor HTTPS.
	ErrInvalidScheme = errors.New("invalid scheme")
)
