package table

import "errors"

var (
	// ErrIncludeObject reports an includeObject value other than None,
	// Metadata (or empty) and Object; the API server answers it with 400.
	ErrIncludeObject = errors.New("unrecognized includeObject value")

	// ErrUnexpectedType reports an object whose Go type does not match the
	// kind being printed (e.g. a *v1.Service in a Pod table).
	ErrUnexpectedType = errors.New("unexpected object type")

	// ErrNoMetadata reports an object without ObjectMeta (or a nil object).
	ErrNoMetadata = errors.New("object has no metadata")
)
