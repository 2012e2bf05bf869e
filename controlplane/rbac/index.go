package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// Policy is a set of RBAC objects: what the authorizer decides from.
type Policy struct {
	Roles               []*rbacv1.Role
	ClusterRoles        []*rbacv1.ClusterRole
	RoleBindings        []*rbacv1.RoleBinding
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
}

// subject is what a binding's subject matches: a user name (ServiceAccounts
// become their user names, system:serviceaccount:<ns>:<name>) or a group.
type subject struct {
	group bool
	name  string
}

// grant is one binding's role, resolved, as it applies to one subject.
type grant struct {
	rules []rbacv1.PolicyRule
	// reason is Kubernetes' allow reason naming the binding:
	// RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to Group "z".
	reason string
	// err is why the role could not be resolved (it does not exist).
	err error
}

// index is an immutable view of a Policy for answering requests: the grants
// of every subject, cluster-wide and per namespace, and the roles by name
// for resolving a binding's roleRef.
type index struct {
	rev          int64
	cluster      map[subject][]*grant
	namespaced   map[string]map[subject][]*grant
	roles        map[string]*rbacv1.Role // namespace/name
	clusterRoles map[string]*rbacv1.ClusterRole
}

func newIndex(p Policy, rev int64) *index {
	x := &index{
		rev:          rev,
		cluster:      map[subject][]*grant{},
		namespaced:   map[string]map[subject][]*grant{},
		roles:        make(map[string]*rbacv1.Role, len(p.Roles)),
		clusterRoles: make(map[string]*rbacv1.ClusterRole, len(p.ClusterRoles)),
	}
	for _, r := range p.Roles {
		x.roles[r.Namespace+"/"+r.Name] = r
	}
	for _, r := range p.ClusterRoles {
		x.clusterRoles[r.Name] = r
	}
	// In name order, so that of several bindings allowing a request the
	// reason names the same one every time.
	crbs := slices.SortedFunc(slices.Values(p.ClusterRoleBindings), func(a, b *rbacv1.ClusterRoleBinding) int { return strings.Compare(a.Name, b.Name) })
	for _, b := range crbs {
		rules, err := x.roleRefRules(b.RoleRef, "")
		for i := range b.Subjects {
			s := &b.Subjects[i]
			key, ok := subjectKey(s, "")
			if !ok {
				continue
			}
			reason := fmt.Sprintf("RBAC: allowed by ClusterRoleBinding %q of %s %q to %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, describeSubject(s, ""))
			x.cluster[key] = append(x.cluster[key], &grant{rules: rules, reason: reason, err: err})
		}
	}
	rbs := slices.SortedFunc(slices.Values(p.RoleBindings), func(a, b *rbacv1.RoleBinding) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, b := range rbs {
		rules, err := x.roleRefRules(b.RoleRef, b.Namespace)
		for i := range b.Subjects {
			s := &b.Subjects[i]
			key, ok := subjectKey(s, b.Namespace)
			if !ok {
				continue
			}
			ns := x.namespaced[b.Namespace]
			if ns == nil {
				ns = map[subject][]*grant{}
				x.namespaced[b.Namespace] = ns
			}
			reason := fmt.Sprintf("RBAC: allowed by RoleBinding %q of %s %q to %s", b.Name+"/"+b.Namespace, b.RoleRef.Kind, b.RoleRef.Name, describeSubject(s, b.Namespace))
			ns[key] = append(ns[key], &grant{rules: rules, reason: reason, err: err})
		}
	}
	return x
}

// subjectKey is what s matches. A ServiceAccount without a namespace is in
// the binding's; in a ClusterRoleBinding, where there is none, it matches
// no one.
func subjectKey(s *rbacv1.Subject, bindingNamespace string) (subject, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return subject{name: s.Name}, true
	case rbacv1.GroupKind:
		return subject{group: true, name: s.Name}, true
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		if ns == "" {
			return subject{}, false
		}
		return subject{name: auth.ServiceAccountUsername(ns, s.Name)}, true
	}
	return subject{}, false
}

func describeSubject(s *rbacv1.Subject, bindingNamespace string) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+ns)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

// roleRefRules resolves a binding's role, as Kubernetes' rule resolver
// does; a missing role is an error in the lister's words.
func (x *index) roleRefRules(ref rbacv1.RoleRef, bindingNamespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		if r, ok := x.roles[bindingNamespace+"/"+ref.Name]; ok {
			return r.Rules, nil
		}
		return nil, apierrors.NewNotFound(rbacv1.Resource("role"), ref.Name)
	case "ClusterRole":
		if r, ok := x.clusterRoles[ref.Name]; ok {
			return r.Rules, nil
		}
		return nil, apierrors.NewNotFound(rbacv1.Resource("clusterrole"), ref.Name)
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

// visit calls f with each grant that applies to u in namespace: the
// cluster-wide ones first, then those of namespace's RoleBindings, until f
// returns false.
func (x *index) visit(u *auth.User, namespace string, f func(*grant) bool) {
	if !visitScope(x.cluster, u, f) || namespace == "" {
		return
	}
	if ns := x.namespaced[namespace]; ns != nil {
		visitScope(ns, u, f)
	}
}

// visitScope calls f with the grants of scope to u's name and groups; it
// returns false when f stopped it.
func visitScope(scope map[subject][]*grant, u *auth.User, f func(*grant) bool) bool {
	for _, g := range scope[subject{name: u.Name}] {
		if !f(g) {
			return false
		}
	}
	for _, group := range u.Groups {
		for _, g := range scope[subject{group: true, name: group}] {
			if !f(g) {
				return false
			}
		}
	}
	return true
}
