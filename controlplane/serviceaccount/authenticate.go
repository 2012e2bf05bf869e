package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Objects finds what a token names, so that a token stops working when its
// ServiceAccount, pod, Secret or node is deleted or replaced. A missing
// object is (nil, nil); an error means it could not be looked up.
type Objects interface {
	Object(ctx context.Context, kind, namespace, name string) (metav1.Object, error)
}

// User is who a token authenticates as.
type User struct {
	Name, UID string
	Groups    []string
	// PodName and PodUID are set for a pod-bound token.
	PodName, PodUID string
}

// Authenticator checks the tokens of one issuer.
type Authenticator struct {
	keys      *Keys
	issuer    string
	audiences []string
	objects   Objects
	log       *slog.Logger
	now       func() time.Time
}

// NewAuthenticator returns an Authenticator of tokens signed with keys by
// issuer for any of audiences (nil: the issuer alone, as kube-apiserver's
// --api-audiences defaults to it).
func NewAuthenticator(keys *Keys, issuer string, audiences []string, objects Objects, log *slog.Logger) *Authenticator {
	if len(audiences) == 0 {
		audiences = []string{issuer}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{keys: keys, issuer: issuer, audiences: audiences, objects: objects,
		log: log.With("component", "serviceaccount-tokens"), now: time.Now}
}

// Audiences are the audiences the Authenticator accepts.
func (a *Authenticator) Audiences() []string { return slices.Clone(a.audiences) }

var algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256}

// Authenticate returns the user of token. A token that is no JWT of this
// issuer is ErrNotServiceAccountToken; one that is but fails a check is
// ErrInvalidToken, whose reason is logged at debug (without the token) and
// must not reach the client.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*User, error) {
	if strings.Count(token, ".") != 2 {
		return nil, ErrNotServiceAccountToken
	}
	tok, err := jwt.ParseSigned(token, algorithms)
	if err != nil {
		return nil, ErrNotServiceAccountToken
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Issuer != a.issuer {
		return nil, ErrNotServiceAccountToken
	}
	u, result, err := a.check(ctx, tok)
	authentications.WithLabelValues(result).Inc()
	if err != nil {
		a.log.Debug("service account token refused", "reason", err, "result", result, "subject", unverified.Subject)
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, result)
	}
	return u, nil
}

// check verifies tok and returns the user, the metric result and why not.
func (a *Authenticator) check(ctx context.Context, tok *jwt.JSONWebToken) (*User, string, error) {
	var public jwt.Claims
	var private privateClaims
	if err := a.verify(tok, &public, &private); err != nil {
		return nil, "bad_signature", err
	}
	now := a.now()
	switch err := public.Validate(jwt.Expected{Time: now}); {
	case errors.Is(err, jwt.ErrExpired):
		return nil, "expired", errors.New("service account token has expired")
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, "not_yet_valid", errors.New("service account token is not valid yet")
	case err != nil:
		return nil, "malformed", fmt.Errorf("service account token claims: %w", err)
	}
	if !slices.ContainsFunc(a.audiences, public.Audience.Contains) {
		return nil, "wrong_audience", fmt.Errorf("token audiences %q is invalid for the target audiences %q", []string(public.Audience), a.audiences)
	}
	k := private.Kubernetes
	if k.Namespace == "" || k.Svcacct.Name == "" || public.Subject != UserName(k.Namespace, k.Svcacct.Name) {
		return nil, "malformed", errors.New("the kubernetes.io claim does not name the subject's service account")
	}
	// Something deleted more than the leeway ago no longer vouches.
	deletedBefore := now.Add(-jwt.DefaultLeeway)
	sa, err := a.lookup(ctx, "ServiceAccount", k.Namespace, k.Svcacct, deletedBefore)
	if err != nil {
		return nil, resultOf(err), err
	}
	u := &User{Name: public.Subject, UID: string(sa.GetUID()), Groups: Groups(k.Namespace)}
	if k.Secret != nil {
		if _, err := a.lookup(ctx, "Secret", k.Namespace, *k.Secret, deletedBefore); err != nil {
			return nil, resultOf(err), err
		}
	}
	if k.Pod != nil {
		if _, err := a.lookup(ctx, "Pod", k.Namespace, *k.Pod, deletedBefore); err != nil {
			return nil, resultOf(err), err
		}
		u.PodName, u.PodUID = k.Pod.Name, k.Pod.UID
	} else if k.Node != nil {
		if _, err := a.lookup(ctx, "Node", "", *k.Node, deletedBefore); err != nil {
			return nil, resultOf(err), err
		}
	}
	if w := k.WarnAfter; w != nil && now.After(w.Time()) {
		staleTokens.Inc()
	}
	return u, "success", nil
}

// verify checks the signature with the key the header names (or, without a
// kid, any accepted key) and decodes the claims.
func (a *Authenticator) verify(tok *jwt.JSONWebToken, dest ...any) error {
	var kid string
	if len(tok.Headers) > 0 {
		kid = tok.Headers[0].KeyID
	}
	if kid != "" {
		key, ok := a.keys.verify[kid]
		if !ok {
			return fmt.Errorf("signed by an unknown key %q", kid)
		}
		return tok.Claims(key, dest...)
	}
	for _, key := range a.keys.verify {
		if err := tok.Claims(key, dest...); err == nil {
			return nil
		}
	}
	return errors.New("no accepted key verifies the signature")
}

// errInvalidated marks a token whose objects are gone or replaced.
var errInvalidated = errors.New("service account token has been invalidated")

// lookup returns the object r names if it exists with r's UID and was not
// deleted before deletedBefore.
func (a *Authenticator) lookup(ctx context.Context, kind, namespace string, r ref, deletedBefore time.Time) (metav1.Object, error) {
	obj, err := a.objects.Object(ctx, kind, namespace, r.Name)
	if err != nil {
		return nil, fmt.Errorf("look up %s %s/%s: %w", kind, namespace, r.Name, err)
	}
	switch {
	case obj == nil:
		return nil, fmt.Errorf("%w: %s %s/%s does not exist", errInvalidated, kind, namespace, r.Name)
	case string(obj.GetUID()) != r.UID:
		return nil, fmt.Errorf("%w: %s %s/%s UID (%s) does not match the claim (%s)", errInvalidated, kind, namespace, r.Name, obj.GetUID(), r.UID)
	case obj.GetDeletionTimestamp() != nil && obj.GetDeletionTimestamp().Time.Before(deletedBefore):
		return nil, fmt.Errorf("%w: %s %s/%s is being deleted", errInvalidated, kind, namespace, r.Name)
	}
	return obj, nil
}

func resultOf(err error) string {
	if errors.Is(err, errInvalidated) {
		return "invalidated"
	}
	return "error"
}
