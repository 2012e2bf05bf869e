package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

func TestRuleAllows(t *testing.T) {
	type A = auth.Attributes
	type R = rbacv1.PolicyRule
	pods := R{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}
	tests := []struct {
		name string
		rule R
		a    A
		want bool
	}{
		{"verb and resource", pods, A{Verb: "list", Resource: "pods", Namespace: "x"}, true},
		{"other verb", pods, A{Verb: "delete", Resource: "pods", Name: "p"}, false},
		{"other group", pods, A{Verb: "get", APIGroup: "apps", Resource: "pods"}, false},
		{"other resource", pods, A{Verb: "get", Resource: "secrets"}, false},
		{"a resource does not grant its subresources", pods, A{Verb: "get", Resource: "pods", Subresource: "log", Name: "p"}, false},
		{"subresource named", R{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
			A{Verb: "get", Resource: "pods", Subresource: "log", Name: "p"}, true},
		{"subresource does not grant the resource", R{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
			A{Verb: "get", Resource: "pods", Name: "p"}, false},
		{"*/subresource", R{APIGroups: []string{"*"}, Resources: []string{"*/scale"}, Verbs: []string{"patch"}},
			A{Verb: "patch", APIGroup: "apps", Resource: "deployments", Subresource: "scale", Name: "web"}, true},
		{"*/subresource is not */other", R{APIGroups: []string{"*"}, Resources: []string{"*/scale"}, Verbs: []string{"patch"}},
			A{Verb: "patch", APIGroup: "apps", Resource: "deployments", Subresource: "status", Name: "web"}, false},
		{"*/subresource is not a resource", R{APIGroups: []string{"*"}, Resources: []string{"*/scale"}, Verbs: []string{"patch"}},
			A{Verb: "patch", APIGroup: "apps", Resource: "deployments", Name: "web"}, false},
		{"wildcards", R{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
			A{Verb: "deletecollection", APIGroup: "apps", Resource: "replicasets", Subresource: "status"}, true},
		{"verb wildcard", R{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"*"}},
			A{Verb: "escalate", APIGroup: "apps", Resource: "deployments"}, true},
		{"resourceNames: the named one", R{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}, Verbs: []string{"get", "list"}},
			A{Verb: "get", Resource: "configmaps", Name: "app"}, true},
		{"resourceNames: another", R{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}, Verbs: []string{"get"}},
			A{Verb: "get", Resource: "configmaps", Name: "other"}, false},
		{"resourceNames: a list names none", R{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}, Verbs: []string{"list"}},
			A{Verb: "list", Resource: "configmaps"}, false},
		{"resource rule and a path", pods, A{Verb: "get", NonResourcePath: "/api"}, false},
		{"path exact", R{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}, A{Verb: "get", NonResourcePath: "/metrics"}, true},
		{"path other verb", R{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}, A{Verb: "post", NonResourcePath: "/metrics"}, false},
		{"path prefix *", R{NonResourceURLs: []string{"/healthz/*"}, Verbs: []string{"get"}}, A{Verb: "get", NonResourcePath: "/healthz/etcd"}, true},
		{"path prefix * needs the slash", R{NonResourceURLs: []string{"/healthz/*"}, Verbs: []string{"get"}}, A{Verb: "get", NonResourcePath: "/healthz"}, false},
		{"path prefix without slash", R{NonResourceURLs: []string{"/api*"}, Verbs: []string{"get"}}, A{Verb: "get", NonResourcePath: "/apis/apps"}, true},
		{"path *", R{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}}, A{Verb: "delete", NonResourcePath: "/debug/pprof/"}, true},
		{"path rule and a resource", R{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}}, A{Verb: "get", Resource: "pods"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuleAllows(tt.a, &tt.rule); got != tt.want {
				t.Errorf("RuleAllows(%+v, %s) = %v, want %v", tt.a, CompactString(tt.rule), got, tt.want)
			}
		})
	}
}
