package rbac

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// Objects is where an Authorizer reads its policy from.
type Objects interface {
	// Revision changes whenever the policy does.
	Revision() int64
	// Synced reports whether the policy is complete.
	Synced() bool
	// Policy returns the current objects, which must not be modified.
	Policy() Policy
	// WaitSynced waits until Synced, or for ctx to end.
	WaitSynced(ctx context.Context) error
}

// Authorizer is the RBAC authorizer: an auth.RuleResolver answering from
// an index of the policy by subject, rebuilt when the policy's revision
// moves on.
type Authorizer struct {
	objects Objects
	mu      sync.Mutex // serializes rebuilds
	cur     atomic.Pointer[index]
}

var _ auth.RuleResolver = (*Authorizer)(nil)

// New returns an authorizer over objects.
func New(objects Objects) *Authorizer {
	return &Authorizer{objects: objects}
}

// NewStatic returns an authorizer over a fixed policy.
func NewStatic(p Policy) *Authorizer {
	return New(staticObjects{p})
}

// WaitSynced waits until the authorizer can read the whole policy.
func (z *Authorizer) WaitSynced(ctx context.Context) error {
	return z.objects.WaitSynced(ctx)
}

// current returns the index of the newest policy, building it if the
// policy moved on since the last one.
func (z *Authorizer) current() (*index, error) {
	rev := z.objects.Revision()
	if x := z.cur.Load(); x != nil && x.rev == rev {
		return x, nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	// The revision is read before the objects: if they change meanwhile,
	// the index is newer than its revision says and is rebuilt once more.
	rev = z.objects.Revision()
	if x := z.cur.Load(); x != nil && x.rev == rev {
		return x, nil
	}
	if !z.objects.Synced() {
		return nil, ErrNotSynced
	}
	x := newIndex(z.objects.Policy(), rev)
	z.cur.Store(x)
	return x, nil
}

// Authorize implements auth.RuleResolver: a is allowed if a rule of a role
// bound to its user (by name, by a group, or as a ServiceAccount) allows it,
// cluster-wide or in a's namespace. The reason names the binding that
// allowed it; a denial has none unless a binding's role could not be
// resolved.
func (z *Authorizer) Authorize(a auth.Attributes) (bool, string) {
	x, err := z.current()
	if err != nil {
		return false, "RBAC: " + err.Error()
	}
	var (
		reason string
		errs   []error
	)
	x.visit(a.User, a.Namespace, func(g *grant) bool {
		if g.err != nil {
			errs = append(errs, g.err)
			return true
		}
		if RulesAllow(a, g.rules) {
			reason = g.reason
			return false
		}
		return true
	})
	if reason != "" {
		return true, reason
	}
	if len(errs) > 0 {
		return false, fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(errs))
	}
	return false, ""
}

// RulesFor implements auth.RuleResolver.
func (z *Authorizer) RulesFor(u *auth.User, namespace string) ([]rbacv1.PolicyRule, error) {
	x, err := z.current()
	if err != nil {
		return nil, err
	}
	var (
		rules []rbacv1.PolicyRule
		errs  []error
	)
	x.visit(u, namespace, func(g *grant) bool {
		if g.err != nil {
			errs = append(errs, g.err)
		}
		rules = append(rules, g.rules...)
		return true
	})
	return rules, utilerrors.NewAggregate(errs)
}

// RoleRefRules returns the rules of the role a binding in namespace ("" for
// a ClusterRoleBinding) refers to; a missing role is a NotFound error.
func (z *Authorizer) RoleRefRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	x, err := z.current()
	if err != nil {
		return nil, err
	}
	return x.roleRefRules(ref, namespace)
}

// staticObjects is a fixed policy.
type staticObjects struct{ p Policy }

func (s staticObjects) Revision() int64                      { return 0 }
func (s staticObjects) Synced() bool                         { return true }
func (s staticObjects) Policy() Policy                       { return s.p }
func (s staticObjects) WaitSynced(ctx context.Context) error { return nil }
