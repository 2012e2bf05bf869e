package auth

import "net/http"

// BearerToken returns the token of a request's "Authorization: Bearer"
// header, parsed as Authenticate parses it, for authenticators of other
// kinds of tokens (service account JWTs).
func BearerToken(r *http.Request) (string, bool) {
	return bearerToken(r.Header.Get("Authorization"))
}
