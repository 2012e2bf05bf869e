package rbac

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/auth/rbac/validation"
)

func TestAggregatedRules(t *testing.T) {
	r := func(resource string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{"x.io"}, Resources: []string{resource}, Verbs: []string{"get"}}
	}
	role := func(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
	}
	target := role("reader", map[string]string{"agg": "true"}, r("stale"))
	target.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchLabels: map[string]string{"agg": "true"}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpIn, Values: []string{"a"}}}},
	}}
	all := []*rbacv1.ClusterRole{
		target,
		role("z-widgets", map[string]string{"agg": "true"}, r("widgets"), r("gadgets")),
		role("a-gadgets", map[string]string{"agg": "true"}, r("gadgets")),
		role("team-a", map[string]string{"team": "a"}, r("things")),
		role("unlabelled", nil, r("secrets")),
	}
	got, ok, err := AggregatedRules(target, all)
	want := []rbacv1.PolicyRule{r("gadgets"), r("widgets"), r("things")}
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("AggregatedRules = %v, %v, %v; want %v", got, ok, err, want)
	}
	if _, ok, _ := AggregatedRules(all[1], all); ok {
		t.Error("a role without an aggregation rule was aggregated")
	}
	empty := role("empty", nil)
	empty.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"none": "true"}}}}
	if got, ok, err := AggregatedRules(empty, all); err != nil || !ok || got == nil || len(got) != 0 {
		t.Errorf("nothing selected: %v, %v, %v; want an empty, non-nil list", got, ok, err)
	}
}

// The default policy aggregates as Kubernetes' does: view's rules are in
// edit, edit's in admin.
func TestBootstrapAggregation(t *testing.T) {
	p := bootstrapPolicy(t, Policy{})
	rules := map[string][]rbacv1.PolicyRule{}
	for _, r := range p.ClusterRoles {
		rules[r.Name] = r.Rules
	}
	for _, tt := range []struct{ role, covers string }{{"edit", "view"}, {"admin", "edit"}, {"view", "system:aggregate-to-view"}} {
		if ok, missing := coversAll(rules[tt.role], rules[tt.covers]); !ok {
			t.Errorf("%s lacks %d rules of %s, e.g. %s", tt.role, len(missing), tt.covers, CompactString(missing[0]))
		}
	}
}

func coversAll(owner, servant []rbacv1.PolicyRule) (bool, []rbacv1.PolicyRule) {
	return validation.Covers(owner, servant)
}
