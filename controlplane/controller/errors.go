package controller

import "errors"

// ErrClaimGone stops an update (an adoption, a release, the removal of an
// owner reference) whose object changed meanwhile: it is no longer the
// object the controller decided about.
var ErrClaimGone = errors.New("the object changed; the claim no longer applies")
