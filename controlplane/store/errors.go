package store

import "errors"

// ErrPreconditionFailed is returned by Create, Update and Delete when one of
// the caller's extra comparisons (Txn.Cmps) failed: the object itself was
// fine, but, for example, the ClusterIP it claims is taken.
var ErrPreconditionFailed = errors.New("store: transaction precondition failed")
