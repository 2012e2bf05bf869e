package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func TestConfirmNoEscalation(t *testing.T) {
	z := NewStatic(testPolicy(t))
	jane := user("jane")
	pods := func(verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: verbs}
	}
	tests := []struct {
		name      string
		namespace string
		rules     []rbacv1.PolicyRule
		want      string // "" for no escalation
	}{
		{"what edit holds", "team", []rbacv1.PolicyRule{pods("get", "create"), {APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"patch"}}}, ""},
		{"a subset by name", "team", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"db"}, Verbs: []string{"get"}}}, ""},
		{"nothing", "team", nil, ""},
		{"edit grants no roles", "team", []rbacv1.PolicyRule{{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles"}, Verbs: []string{"create"}}},
			"user \"jane\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n" +
				`{APIGroups:["rbac.authorization.k8s.io"], Resources:["roles"], Verbs:["create"]}`},
		{"outside her namespace, verbs merged", "other", []rbacv1.PolicyRule{pods("get", "list"), {NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
			"user \"jane\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}` + "\n" + `{NonResourceURLs:["/metrics"], Verbs:["get"]}`},
		{"a wildcard is more than any list", "team", []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"*"}, Verbs: []string{"get"}}},
			"user \"jane\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n" +
				`{APIGroups:["apps"], Resources:["*"], Verbs:["get"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := z.ConfirmNoEscalation(jane, tt.namespace, tt.rules)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestRoleRefRules(t *testing.T) {
	z := NewStatic(testPolicy(t))
	if rules, err := z.RoleRefRules(rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"}, "dev"); err != nil || len(rules) != 1 {
		t.Errorf("Role dev/pod-reader: %v, %v", rules, err)
	}
	if _, err := z.RoleRefRules(rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"}, "prod"); err == nil || err.Error() != `role.rbac.authorization.k8s.io "pod-reader" not found` {
		t.Errorf("Role prod/pod-reader: err = %v", err)
	}
	if _, err := z.RoleRefRules(rbacv1.RoleRef{Kind: "ClusterRole", Name: "nope"}, ""); err == nil || err.Error() != `clusterrole.rbac.authorization.k8s.io "nope" not found` {
		t.Errorf("ClusterRole nope: err = %v", err)
	}
}
