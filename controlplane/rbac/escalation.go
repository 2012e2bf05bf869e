package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/component-helpers/auth/rbac/validation"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// ConfirmNoEscalation returns an error unless u, in namespace ("" for the
// cluster scope), already holds every permission rules grant: no one may
// write a Role or a binding that gives more than they have. The error is
// Kubernetes':
//
//	user "jane" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:
//	{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}
func (z *Authorizer) ConfirmNoEscalation(u *auth.User, namespace string, rules []rbacv1.PolicyRule) error {
	owned, resolveErr := z.RulesFor(u, namespace)
	covered, missing := validation.Covers(owned, rules)
	if covered {
		return nil
	}
	var lines []string
	for _, r := range compactRules(missing) {
		lines = append(lines, CompactString(r))
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", u.Name, u.Groups, strings.Join(lines, "\n"))
	if resolveErr != nil {
		msg += fmt.Sprintf("; resolution errors: %v", []error{resolveErr})
	}
	return &EscalationError{msg: msg}
}

// EscalationError is ConfirmNoEscalation's refusal.
type EscalationError struct{ msg string }

func (e *EscalationError) Error() string { return e.msg }

// compactRules merges rules of one API group and one resource that differ
// only in their verbs, as Kubernetes' CompactRules does for the list of
// missing permissions (which Covers returns one verb at a time).
func compactRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	simple := map[schema.GroupResource]int{} // index in out
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 || len(r.APIGroups) != 1 || len(r.Resources) != 1 {
			out = append(out, r)
			continue
		}
		gr := schema.GroupResource{Group: r.APIGroups[0], Resource: r.Resources[0]}
		if i, ok := simple[gr]; ok {
			out[i].Verbs = append(out[i].Verbs, r.Verbs...)
			continue
		}
		simple[gr] = len(out)
		out = append(out, *r.DeepCopy())
	}
	return out
}

// CompactString renders a rule as Kubernetes' escalation messages do:
// {APIGroups:["apps"], Resources:["deployments"], Verbs:["create" "delete"]}.
func CompactString(r rbacv1.PolicyRule) string {
	var parts []string
	for _, f := range []struct {
		name   string
		values []string
	}{
		{"APIGroups", r.APIGroups}, {"Resources", r.Resources}, {"NonResourceURLs", r.NonResourceURLs},
		{"ResourceNames", r.ResourceNames}, {"Verbs", r.Verbs},
	} {
		if len(f.values) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", f.name, f.values))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
