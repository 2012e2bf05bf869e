// Package rbac is Kubernetes' role-based access control for Shoal: the
// rbac.authorization.k8s.io/v1 Roles, ClusterRoles, RoleBindings and
// ClusterRoleBindings as an authorizer, with Kubernetes' semantics and
// words.
//
//   - Authorizer answers from an index of the bindings by subject (user,
//     group, ServiceAccount), built from the process's watch caches and
//     rebuilt when they move on: a request costs a few map lookups and
//     the rules of the user's own bindings, never an etcd read.
//
//   - RuleAllows is the matching of one rule: verbs and "*", API groups,
//     resources with "*" and "*/subresource", resourceNames,
//     nonResourceURLs with a trailing "*".
//
//   - ConfirmNoEscalation refuses a Role or binding that grants more than
//     its creator holds, with Kubernetes' message.
//
//   - ClusterRoles and ClusterRoleBindings are the bootstrap policy
//     (cluster-admin, admin, edit, view, system:discovery, ...), which
//     Reconcile creates or completes at start, as kube-apiserver does for
//     roles annotated rbac.authorization.kubernetes.io/autoupdate=true.
//
//   - AggregatedRules is what an aggregated ClusterRole (admin, edit, view)
//     holds: the union of the rules of the ClusterRoles its selectors pick.
//
//     authz := &auth.Authorizer{RBAC: rbac.NewForCaches(caches)}
//     d := authz.Authorize(auth.Attributes{User: u, Verb: "list", Resource: "pods", Namespace: "default"})
package rbac
