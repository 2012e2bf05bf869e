package rbac

import "errors"

// ErrNotSynced means the authorizer has not read the whole policy yet.
var ErrNotSynced = errors.New("the RBAC policy is not loaded yet")
