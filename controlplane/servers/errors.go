package servers

import "errors"

// Sentinel errors; the messages say what to do.
var (
	// ErrNotServerToken means a --token is not a server token at all (a
	// node token, say): only the server token printed by the first server
	// joins a server.
	ErrNotServerToken = errors.New("not a server token (want shoal-server:sha256-<CA hash>:<secret>, printed by the first `shoal up` and kept in its <data-dir>/" + TokenFile + "; a node token cannot join a server)")
	// ErrTokenRefused means the server does not know the token's secret.
	ErrTokenRefused = errors.New("the server refused the token: it is not this cluster's server token")
	// ErrCAMismatch means the server presents a CA other than the one the
	// token names.
	ErrCAMismatch = errors.New("the server's CA is not the one the token names (a wrong --join address, a token from another cluster, or someone in between)")
	// ErrMemberExists means a server of that name is already a member.
	ErrMemberExists = errors.New("a server of that name is already a member")
)
