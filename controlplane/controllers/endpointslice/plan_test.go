package endpointslice

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func planService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "svc-uid"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}},
	}
}

func planPod(i, port int, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("p%03d", i), UID: types.UID(fmt.Sprint("uid-", i)),
			Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port), Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.%d.%d", i/250, i%250+1),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

// stored is what the API would hold after plan: created slices get names.
func stored(existing []*discoveryv1.EndpointSlice, plan slicePlan) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range plan.remove {
		delete(byName, s.Name)
	}
	for _, s := range plan.update {
		byName[s.Name] = s
	}
	for i, s := range plan.create {
		c := s.DeepCopy()
		c.Name = fmt.Sprintf("%snew%d-%d", s.GenerateName, len(byName), i)
		byName[c.Name] = c
	}
	var out []*discoveryv1.EndpointSlice
	for _, k := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[k])
	}
	return out
}

func TestPlanSlices(t *testing.T) {
	svc := planService()
	pods := func(n int) []*corev1.Pod {
		var out []*corev1.Pod
		for i := range n {
			out = append(out, planPod(i, 8080, true))
		}
		return out
	}
	for _, c := range []struct {
		name  string
		pods  []*corev1.Pod
		sizes []int // endpoints per slice, by slice
	}{
		{"no pods: one placeholder", nil, []int{0}},
		{"three pods", pods(3), []int{3}},
		{"at most 100 endpoints a slice", pods(250), []int{100, 100, 50}},
		{"pods without an IP are not endpoints", append(pods(2), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "noip"}}), []int{2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan := planSlices(svc, c.pods, nil, maxEndpointsInSlice)
			if len(plan.update)+len(plan.remove) != 0 {
				t.Fatalf("from nothing: %d updates, %d removals", len(plan.update), len(plan.remove))
			}
			var sizes []int
			for _, s := range plan.create {
				sizes = append(sizes, len(s.Endpoints))
			}
			if fmt.Sprint(sizes) != fmt.Sprint(c.sizes) {
				t.Fatalf("slice sizes %v, want %v", sizes, c.sizes)
			}
			// Applied, the same state plans nothing, in whatever order the
			// endpoints are stored.
			have := stored(nil, plan)
			for _, s := range have {
				rand.Shuffle(len(s.Endpoints), func(i, j int) { s.Endpoints[i], s.Endpoints[j] = s.Endpoints[j], s.Endpoints[i] })
			}
			if again := planSlices(svc, c.pods, have, maxEndpointsInSlice); !again.empty() {
				t.Fatalf("steady state plans %d creates, %d updates, %d removals", len(again.create), len(again.update), len(again.remove))
			}
		})
	}
}

// One pod changing readiness is one slice update; a pod moving to another
// port set joins a slice of that set and its emptied slice goes.
func TestPlanSlicesFewestWrites(t *testing.T) {
	svc := planService()
	pods := []*corev1.Pod{planPod(0, 8080, true), planPod(1, 8080, true), planPod(2, 9090, true)}
	have := stored(nil, planSlices(svc, pods, nil, maxEndpointsInSlice))
	if len(have) != 2 {
		t.Fatalf("two port sets: %d slices, want 2", len(have))
	}

	pods[1] = planPod(1, 8080, false)
	plan := planSlices(svc, pods, have, maxEndpointsInSlice)
	if len(plan.create) != 0 || len(plan.update) != 1 || len(plan.remove) != 0 {
		t.Fatalf("readiness flip: %d/%d/%d creates/updates/removals, want 0/1/0", len(plan.create), len(plan.update), len(plan.remove))
	}
	have = stored(have, plan)

	pods[2] = planPod(2, 8080, true) // joins the 8080 set; the 9090 slice empties
	plan = planSlices(svc, pods, have, maxEndpointsInSlice)
	if len(plan.create) != 0 || len(plan.update) != 1 || len(plan.remove) != 1 {
		t.Fatalf("port move: %d/%d/%d creates/updates/removals, want 0/1/1", len(plan.create), len(plan.update), len(plan.remove))
	}

	// A slice owned by an earlier service of the same name is replaced.
	foreign := have[0].DeepCopy()
	foreign.OwnerReferences[0].UID = "old-uid"
	plan = planSlices(svc, pods[:2], []*discoveryv1.EndpointSlice{foreign}, maxEndpointsInSlice)
	if len(plan.create) != 1 || len(plan.remove) != 1 || plan.remove[0].Name != foreign.Name {
		t.Fatalf("foreign slice: %d creates, removals %v", len(plan.create), plan.remove)
	}
}
