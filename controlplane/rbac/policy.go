package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// Labels and annotations of the bootstrap policy, as Kubernetes sets them.
const (
	// BootstrapLabel marks the objects of the default policy.
	BootstrapLabel = "kubernetes.io/bootstrapping"
	// AggregateToAdmin, AggregateToEdit and AggregateToView put a
	// ClusterRole's rules into admin, edit and view.
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"

	// ViewerRole is Shoal's ClusterRole for reading what view leaves out
	// at the cluster scope (nodes, leases, metrics, RBAC objects), bound
	// with view to shoal:viewers. Like view, it does not read Secrets.
	ViewerRole = "shoal:viewer"
)

var (
	readWrite = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	read      = []string{"get", "list", "watch"}
	write     = []string{"create", "delete", "deletecollection", "patch", "update"}
)

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

func aggregated(labels ...string) *rbacv1.AggregationRule {
	r := &rbacv1.AggregationRule{}
	for _, l := range labels {
		r.ClusterRoleSelectors = append(r.ClusterRoleSelectors, metav1.LabelSelector{MatchLabels: map[string]string{l: "true"}})
	}
	return r
}

// ClusterRoles is the bootstrap policy's ClusterRoles: Kubernetes' user-facing
// roles (cluster-admin, and admin, edit and view aggregated from the
// system:aggregate-to-* roles), the roles every user needs
// (system:discovery, system:basic-user, system:public-info-viewer),
// system:monitoring, and Shoal's shoal:viewer. Each call returns new
// objects.
func ClusterRoles() []*rbacv1.ClusterRole {
	roles := []*rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}, Rules: auth.FullAuthority()},
		{ObjectMeta: metav1.ObjectMeta{Name: "admin"}, AggregationRule: aggregated(AggregateToAdmin)},
		{ObjectMeta: metav1.ObjectMeta{Name: "edit", Labels: map[string]string{AggregateToAdmin: "true"}},
			AggregationRule: aggregated(AggregateToEdit)},
		{ObjectMeta: metav1.ObjectMeta{Name: "view", Labels: map[string]string{AggregateToEdit: "true"}},
			AggregationRule: aggregated(AggregateToView)},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-admin", Labels: map[string]string{AggregateToAdmin: "true"}},
			Rules: []rbacv1.PolicyRule{
				rule([]string{"create"}, "authorization.k8s.io", "localsubjectaccessreviews"),
				rule(readWrite, rbacv1.GroupName, "rolebindings", "roles"),
			}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-edit", Labels: map[string]string{AggregateToEdit: "true"}},
			Rules: []rbacv1.PolicyRule{
				rule(read, "", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
				rule([]string{"impersonate"}, "", "serviceaccounts"),
				rule(write, "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
				rule([]string{"create"}, "", "pods/eviction"),
				rule(write, "", "configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
					"replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"),
				rule([]string{"create"}, "", "serviceaccounts/token"),
				rule(write, "apps", "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
					"replicasets/scale", "statefulsets", "statefulsets/scale"),
				rule(write, "autoscaling", "horizontalpodautoscalers"),
				rule(write, "batch", "cronjobs", "jobs"),
				rule(write, "extensions", "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses",
					"networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"),
				rule(write, "policy", "poddisruptionbudgets"),
				rule(write, "networking.k8s.io", "ingresses", "networkpolicies"),
				rule(readWrite, "coordination.k8s.io", "leases"),
			}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:aggregate-to-view", Labels: map[string]string{AggregateToView: "true"}},
			Rules: []rbacv1.PolicyRule{
				rule(read, "", "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
					"replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"),
				rule(read, "", "bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
					"replicationcontrollers/status", "resourcequotas", "resourcequotas/status"),
				rule(read, "", "namespaces"),
				rule(read, "discovery.k8s.io", "endpointslices"),
				rule(read, "apps", "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
					"deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
					"statefulsets/scale", "statefulsets/status"),
				rule(read, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
				rule(read, "batch", "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
				rule(read, "extensions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
					"deployments/status", "ingresses", "ingresses/status", "networkpolicies", "replicasets",
					"replicasets/scale", "replicasets/status", "replicationcontrollers/scale"),
				rule(read, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
				rule(read, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies"),
			}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:discovery"}, Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
				"/readyz", "/version", "/version/"),
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:basic-user"}, Rules: []rbacv1.PolicyRule{
			rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews"),
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:public-info-viewer"}, Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/healthz", "/livez", "/readyz", "/version", "/version/"),
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "system:monitoring"}, Rules: []rbacv1.PolicyRule{
			urls([]string{"get"}, "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"),
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: ViewerRole}, Rules: []rbacv1.PolicyRule{
			rule(read, "", "nodes", "nodes/status"),
			rule(read, "coordination.k8s.io", "leases"),
			rule(read, "events.k8s.io", "events"),
			rule(read, "metrics.k8s.io", "nodes", "pods"),
			rule(read, rbacv1.GroupName, "clusterrolebindings", "clusterroles", "rolebindings", "roles"),
		}},
	}
	for _, r := range roles {
		bootstrapMeta(&r.ObjectMeta)
	}
	return roles
}

// ClusterRoleBindings is the bootstrap policy's bindings: cluster-admin to
// system:masters, what every user needs to system:authenticated (and the
// public information to system:unauthenticated too), system:monitoring to
// its group, and view with shoal:viewer to shoal:viewers, which is what
// Shoal's viewer user could read before RBAC.
func ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	bindings := []*rbacv1.ClusterRoleBinding{
		clusterBinding("cluster-admin", "cluster-admin", auth.GroupMasters),
		clusterBinding("system:discovery", "system:discovery", auth.GroupAuthenticated),
		clusterBinding("system:basic-user", "system:basic-user", auth.GroupAuthenticated),
		clusterBinding("system:public-info-viewer", "system:public-info-viewer", auth.GroupAuthenticated, auth.GroupUnauthenticated),
		clusterBinding("system:monitoring", "system:monitoring", "system:monitoring"),
		clusterBinding("shoal:viewers", "view", auth.GroupViewers),
		clusterBinding(ViewerRole, ViewerRole, auth.GroupViewers),
	}
	for _, b := range bindings {
		bootstrapMeta(&b.ObjectMeta)
	}
	return bindings
}

func clusterBinding(name, role string, groups ...string) *rbacv1.ClusterRoleBinding {
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
	}
	for _, g := range groups {
		b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	return b
}

// bootstrapMeta labels an object of the default policy and opts it into
// reconciliation at every start.
func bootstrapMeta(m *metav1.ObjectMeta) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[BootstrapLabel] = "rbac-defaults"
	m.Annotations = map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"}
}
