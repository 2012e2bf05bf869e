package serviceaccount

import (
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// Issuer signs tokens.
type Issuer struct {
	keys   *Keys
	issuer string
	signer jose.Signer
	now    func() time.Time
}

// NewIssuer returns an Issuer signing with keys' signing key as issuer.
func NewIssuer(keys *Keys, issuer string) (*Issuer, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keys.signingID)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: keys.alg, Key: keys.signer}, opts)
	if err != nil {
		return nil, fmt.Errorf("service account token signer: %w", err)
	}
	return &Issuer{keys: keys, issuer: issuer, signer: signer, now: time.Now}, nil
}

// Request is what a token is issued for: the ServiceAccount, at most one
// object it is bound to (Pod, with the Node it runs on if known; Secret;
// or Node alone), its audiences and lifetime.
type Request struct {
	ServiceAccount *corev1.ServiceAccount
	Pod            *corev1.Pod
	Secret         *corev1.Secret
	Node           *corev1.Node
	Audiences      []string
	// ExpirationSeconds is how long the token is valid.
	ExpirationSeconds int64
	// WarnAfterSeconds, if set, is when a verifier should call the token
	// stale (the extended kubelet tokens).
	WarnAfterSeconds int64
}

// Issue returns a signed token for req, issued now.
func (i *Issuer) Issue(req Request) (string, error) {
	sa := req.ServiceAccount
	if req.Secret != nil && (req.Pod != nil || req.Node != nil) {
		return "", fmt.Errorf("a token is bound to one object, not a Secret and a %s", map[bool]string{true: "Pod", false: "Node"}[req.Pod != nil])
	}
	now := i.now()
	public := jwt.Claims{
		Issuer:    i.issuer,
		Subject:   UserName(sa.Namespace, sa.Name),
		Audience:  jwt.Audience(req.Audiences),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(time.Duration(req.ExpirationSeconds) * time.Second)),
		ID:        string(uuid.NewUUID()),
	}
	private := privateClaims{Kubernetes: kubernetesClaim{
		Namespace: sa.Namespace,
		Svcacct:   ref{Name: sa.Name, UID: string(sa.UID)},
	}}
	k := &private.Kubernetes
	switch {
	case req.Pod != nil:
		k.Pod = &ref{Name: req.Pod.Name, UID: string(req.Pod.UID)}
		if req.Node != nil {
			k.Node = &ref{Name: req.Node.Name, UID: string(req.Node.UID)}
		}
	case req.Secret != nil:
		k.Secret = &ref{Name: req.Secret.Name, UID: string(req.Secret.UID)}
	case req.Node != nil:
		k.Node = &ref{Name: req.Node.Name, UID: string(req.Node.UID)}
	}
	if req.WarnAfterSeconds != 0 {
		k.WarnAfter = jwt.NewNumericDate(now.Add(time.Duration(req.WarnAfterSeconds) * time.Second))
	}
	tok, err := jwt.Signed(i.signer).Claims(public).Claims(private).Serialize()
	if err != nil {
		issued.WithLabelValues("error").Inc()
		return "", fmt.Errorf("sign service account token: %w", err)
	}
	issued.WithLabelValues("success").Inc()
	return tok, nil
}
