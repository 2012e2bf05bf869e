package apiserver

import (
	"errors"
	"net/http"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// checkEscalation refuses a write of an RBAC object that would give more
// than its writer holds, as Kubernetes' RBAC storage does, before anything
// is stored:
//
//   - a Role or ClusterRole whose rules the writer does not hold, unless the
//     writer may escalate on it; an aggregationRule (which can gather
//     anything) needs cluster-admin's rights;
//   - a binding to a role whose rules the writer does not hold, unless the
//     writer may bind that role.
//
// system:masters may write anything; an update that changes only what the
// garbage collector manages (owners, finalizers) is not checked. obj is the
// object to be written, old the stored one (nil on create). Objects that
// will fail validation are left to it.
func (s *Server) checkEscalation(r *http.Request, ri requestInfo, obj, old store.Object) error {
	u, _ := r.Context().Value(userKey{}).(*auth.User)
	if s.rbac == nil || u == nil || u.InGroup(auth.GroupMasters) {
		return nil
	}
	switch obj.(type) {
	case *rbacv1.Role, *rbacv1.ClusterRole, *rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding:
	default:
		return nil
	}
	obj = obj.DeepCopyObject().(store.Object)
	registry.SetDefaults(obj)
	if len(registry.Validate(obj)) > 0 || (old != nil && onlyGCFieldsChanged(obj, old)) {
		return nil
	}
	gr := ri.groupResource()
	switch o := obj.(type) {
	case *rbacv1.Role:
		if s.mayEscalate(u, ri) {
			return nil
		}
		return forbiddenIf(gr, o.Name, s.rbac.ConfirmNoEscalation(u, ri.Namespace, o.Rules))
	case *rbacv1.ClusterRole:
		if s.mayEscalate(u, ri) {
			return nil
		}
		if err := s.rbac.ConfirmNoEscalation(u, "", o.Rules); err != nil {
			return forbiddenIf(gr, o.Name, err)
		}
		if o.AggregationRule != nil && s.rbac.ConfirmNoEscalation(u, "", auth.FullAuthority()) != nil {
			return forbiddenIf(gr, o.Name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
		}
		return nil
	case *rbacv1.RoleBinding:
		return s.checkBinding(r, u, gr, o.Name, o.RoleRef, ri.Namespace)
	case *rbacv1.ClusterRoleBinding:
		return s.checkBinding(r, u, gr, o.Name, o.RoleRef, "")
	}
	return nil
}

// mayEscalate reports whether u may write roles granting what it lacks:
// the verb escalate on the request's roles or clusterroles.
func (s *Server) mayEscalate(u *auth.User, ri requestInfo) bool {
	return s.authz.Authorize(auth.Attributes{User: u, Verb: "escalate", APIGroup: ri.Group, Resource: ri.Resource,
		Namespace: ri.Namespace, Name: ri.Name}).Allowed
}

// checkBinding allows a binding in namespace ("" for a ClusterRoleBinding)
// to ref if u may bind that role there, or already holds its rules.
func (s *Server) checkBinding(r *http.Request, u *auth.User, gr schemaGroupResource, name string, ref rbacv1.RoleRef, namespace string) error {
	roles, roleNS := registry.ClusterRoles, ""
	if ref.Kind == "Role" {
		roles, roleNS = registry.Roles, namespace
	}
	if s.authz.Authorize(auth.Attributes{User: u, Verb: "bind", APIGroup: ref.APIGroup, Resource: roles.Name,
		Namespace: namespace, Name: ref.Name}).Allowed {
		return nil
	}
	// The role as stored, not as cached: one just made must be found.
	role, err := s.store.Get(r.Context(), roles.Resource, roleNS, ref.Name)
	if err != nil {
		return err
	}
	var rules []rbacv1.PolicyRule
	switch o := role.(type) {
	case *rbacv1.Role:
		rules = o.Rules
	case *rbacv1.ClusterRole:
		rules = o.Rules
	}
	return forbiddenIf(gr, name, s.rbac.ConfirmNoEscalation(u, namespace, rules))
}

func forbiddenIf(gr schemaGroupResource, name string, err error) error {
	if err == nil {
		return nil
	}
	return apierrors.NewForbidden(gr, name, err)
}

// onlyGCFieldsChanged reports whether obj differs from old only in what
// the garbage collector and the server manage, as Kubernetes'
// IsOnlyMutatingGCFields does.
func onlyGCFieldsChanged(obj, old store.Object) bool {
	c := obj.DeepCopyObject().(store.Object)
	c.SetOwnerReferences(old.GetOwnerReferences())
	c.SetFinalizers(old.GetFinalizers())
	c.SetManagedFields(old.GetManagedFields())
	c.SetResourceVersion(old.GetResourceVersion())
	c.SetUID(old.GetUID())
	c.SetCreationTimestamp(old.GetCreationTimestamp())
	c.SetGeneration(old.GetGeneration())
	c.SetDeletionTimestamp(old.GetDeletionTimestamp())
	c.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	c.GetObjectKind().SetGroupVersionKind(old.GetObjectKind().GroupVersionKind())
	return equality.Semantic.DeepEqual(c, old)
}
