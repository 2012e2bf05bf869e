package resolver

import "errors"

// ErrNoServer is returned for a Corefile that defines no server block.
var ErrNoServer = errors.New("corefile defines no server")

// ErrNoReloadSource is what reload gets when it cannot tell which file to
// re-read: the server was started from a string, or several run in this
// process.
var ErrNoReloadSource = errors.New("no single Corefile file to reload from")

// ErrEmptyBlock is returned for a server block without directives (often a
// stray closing brace).
var ErrEmptyBlock = errors.New("server block has no directives")
