// Package serviceaccount issues and checks the tokens of ServiceAccounts,
// as kube-apiserver does: signed JWTs (ES256, or RS256 with an RSA key) with
// Kubernetes' claims — iss, sub system:serviceaccount:<ns>:<name>, aud,
// exp, iat, nbf, jti and the kubernetes.io claim naming the namespace, the
// ServiceAccount and the pod, Secret or node the token is bound to.
//
// Keys holds the signing key (generated once into the data dir, like
// kube-apiserver's --service-account-signing-key-file) and every public key
// tokens are accepted from. Every API server of a cluster must sign with
// the same key, or a token one issues is refused by the others: Shoal's
// replicas share it through the data dir, as they share the CA.
//
// Issuer signs a token for a TokenRequest; Authenticator turns a bearer
// token back into its user (system:serviceaccount:<ns>:<name> in
// system:serviceaccounts, system:serviceaccounts:<ns> and
// system:authenticated) after checking the signature, the time claims, the
// audience and that the ServiceAccount — and the pod or Secret the token is
// bound to — still exists with the same UID, read from the API server's
// watch caches.
//
//	keys, err := serviceaccount.LoadOrCreateKeys("/var/lib/shoal/pki/sa.key", true, nil)
//	issuer := serviceaccount.NewIssuer(keys, serviceaccount.DefaultIssuer)
//	tok, err := issuer.Issue(serviceaccount.Request{ServiceAccount: sa, ExpirationSeconds: 3600})
//	authn := serviceaccount.NewAuthenticator(keys, serviceaccount.DefaultIssuer, nil, objects, log)
//	user, err := authn.Authenticate(ctx, tok)
package serviceaccount
