package endpoint

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServicesForPod(t *testing.T) {
	x := NewServices()
	for name, sel := range map[string]map[string]string{
		"web":      {"app": "web"},
		"web-blue": {"app": "web", "track": "blue"},
		"db":       {"app": "db"},
	} {
		x.Set(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.ServiceSpec{Selector: sel}})
	}
	// Same selector in another namespace, and a service without one.
	x.Set(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}})
	x.Set(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "manual"}})

	pod := func(ready bool, lbls map[string]string) *corev1.Pod {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", Labels: lbls},
			Status: corev1.PodStatus{PodIP: "10.244.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
	}
	blue := map[string]string{"app": "web", "track": "blue"}
	web := map[string]string{"app": "web"}
	db := map[string]string{"app": "db"}
	for _, c := range []struct {
		name     string
		old, cur *corev1.Pod
		want     []string
	}{
		{"new pod", nil, pod(true, blue), []string{"default/web", "default/web-blue"}},
		{"deleted pod", pod(true, db), nil, []string{"default/db"}},
		{"nothing an endpoint shows changed", pod(true, blue), pod(true, blue), nil},
		{"readiness changed", pod(true, blue), pod(false, blue), []string{"default/web", "default/web-blue"}},
		{"labels only: the services gained or lost", pod(true, blue), pod(true, web), []string{"default/web-blue"}},
		{"labels and readiness: all of before and after", pod(true, web), pod(false, db), []string{"default/db", "default/web"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := x.ForPod(c.old, c.cur)
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}

	x.Remove("default", "web")
	x.Set(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-blue"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"track": "blue"}}})
	if got := x.ForPod(nil, pod(true, blue)); !slices.Equal(got, []string{"default/web-blue"}) {
		t.Fatalf("after removing web and refiling web-blue: %v", got)
	}
}

func TestSelectPods(t *testing.T) {
	x := NewPods()
	add := func(name string, lbls map[string]string) {
		x.Set(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: lbls}})
	}
	add("a", map[string]string{"app": "web", "track": "blue"})
	add("b", map[string]string{"app": "web"})
	add("c", map[string]string{"app": "db"})
	add("b", map[string]string{"app": "web", "track": "blue"}) // relabelled
	x.Remove(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "c"}})
	names := func(ps []*corev1.Pod) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	if got := names(x.Select("default", map[string]string{"app": "web", "track": "blue"})); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("app=web,track=blue: %v", got)
	}
	if got := names(x.Select("default", map[string]string{"app": "db"})); got != nil {
		t.Errorf("app=db after deleting c: %v", got)
	}
	if got := names(x.Select("shop", map[string]string{"app": "web"})); got != nil {
		t.Errorf("other namespace: %v", got)
	}
}
