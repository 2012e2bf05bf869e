package serviceaccount

import "errors"

var (
	// ErrNotServiceAccountToken means the token is not a JWT of this issuer:
	// another authenticator may know it.
	ErrNotServiceAccountToken = errors.New("not a service account token of this issuer")
	// ErrInvalidToken means the token is this issuer's but not valid now
	// (bad signature, expired, wrong audience, its objects gone). The
	// wrapped reason is for a debug log, never for the client.
	ErrInvalidToken = errors.New("invalid service account token")
	// ErrKeysNotShared means this API server and the others on the same
	// etcd would not accept each other's service account tokens.
	ErrKeysNotShared = errors.New("the API servers on this etcd do not share service account keys")
)
