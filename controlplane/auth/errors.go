package auth

import "errors"

// ErrNoAdminToken means a token file holds no token for the admin user, so no
// admin kubeconfig can be written from it.
var ErrNoAdminToken = errors.New("no token for user " + AdminUser)
