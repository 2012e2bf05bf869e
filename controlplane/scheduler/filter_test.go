package scheduler

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testNode is a Ready node with cpu cores and mem of allocatable memory,
// changed by edits.
func testNode(name, cpu, mem string, edits ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, e := range edits {
		e(n)
	}
	return n
}

func testPod(cpu, mem string, edits ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
	}
	if cpu != "" || mem != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{}
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	for _, e := range edits {
		e(p)
	}
	return p
}

func taint(key, value string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func toleration(t corev1.Toleration) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t) }
}

func TestFilter(t *testing.T) {
	notReady := func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }
	cordoned := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	label := func(k, v string) func(*corev1.Node) { return func(n *corev1.Node) { n.Labels[k] = v } }
	selector := func(k, v string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{k: v} }
	}
	affinity := func(terms ...corev1.NodeSelectorTerm) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		}
	}
	expr := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	maxPods := func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("2") }
	limitsOnly := func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}
	}

	tests := []struct {
		name string
		pod  *corev1.Pod
		node *corev1.Node
		used usage
		want []string
	}{
		{"fits", testPod("500m", "1Gi"), testNode("n", "1", "2Gi"), usage{}, nil},
		{"fits exactly what is left", testPod("500m", "1Gi"), testNode("n", "1", "2Gi"),
			usage{requested: resources{milliCPU: 500, memory: 1 << 30}, pods: 1}, nil},
		{"no requests fit a full node", testPod("", ""), testNode("n", "1", "1Gi"),
			usage{requested: resources{milliCPU: 1000, memory: 1 << 30}, pods: 3}, nil},
		{"cpu short", testPod("600m", ""), testNode("n", "1", "2Gi"),
			usage{requested: resources{milliCPU: 500}}, []string{reasonCPU}},
		{"cpu and memory short", testPod("2", "3Gi"), testNode("n", "1", "2Gi"), usage{}, []string{reasonCPU, reasonMemory}},
		{"limits count as requests", testPod("", "", limitsOnly), testNode("n", "2", "2Gi"), usage{}, []string{reasonCPU}},
		{"too many pods", testPod("", ""), testNode("n", "1", "1Gi", maxPods), usage{pods: 2}, []string{reasonPods}},
		{"not ready", testPod("", ""), testNode("n", "1", "1Gi", notReady), usage{}, []string{reasonNotReady}},
		{"cordoned", testPod("", ""), testNode("n", "1", "1Gi", cordoned), usage{}, []string{reasonUnschedulable}},
		{"cordoned but tolerated", testPod("", "", toleration(corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists})),
			testNode("n", "1", "1Gi", cordoned), usage{}, nil},
		{"NoSchedule taint", testPod("", ""), testNode("n", "1", "1Gi", taint("dedicated", "db", corev1.TaintEffectNoSchedule)),
			usage{}, []string{"node(s) had untolerated taint {dedicated: db}"}},
		{"NoExecute taint", testPod("", ""), testNode("n", "1", "1Gi", taint(corev1.TaintNodeUnreachable, "", corev1.TaintEffectNoExecute)),
			usage{}, []string{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"}},
		{"PreferNoSchedule taint does not filter", testPod("", ""), testNode("n", "1", "1Gi", taint("soft", "x", corev1.TaintEffectPreferNoSchedule)), usage{}, nil},
		{"taint tolerated by Equal", testPod("", "", toleration(corev1.Toleration{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})),
			testNode("n", "1", "1Gi", taint("dedicated", "db", corev1.TaintEffectNoSchedule)), usage{}, nil},
		{"taint with another value not tolerated", testPod("", "", toleration(corev1.Toleration{Key: "dedicated", Value: "web"})),
			testNode("n", "1", "1Gi", taint("dedicated", "db", corev1.TaintEffectNoSchedule)), usage{}, []string{"node(s) had untolerated taint {dedicated: db}"}},
		{"toleration of another effect", testPod("", "", toleration(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})),
			testNode("n", "1", "1Gi", taint("dedicated", "db", corev1.TaintEffectNoSchedule)), usage{}, []string{"node(s) had untolerated taint {dedicated: db}"}},
		{"tolerate everything", testPod("", "", toleration(corev1.Toleration{Operator: corev1.TolerationOpExists})),
			testNode("n", "1", "1Gi", taint("a", "b", corev1.TaintEffectNoSchedule), taint("c", "", corev1.TaintEffectNoExecute)), usage{}, nil},
		{"nodeSelector matches", testPod("", "", selector("disk", "ssd")), testNode("n", "1", "1Gi", label("disk", "ssd")), usage{}, nil},
		{"nodeSelector value differs", testPod("", "", selector("disk", "ssd")), testNode("n", "1", "1Gi", label("disk", "hdd")), usage{}, []string{reasonSelector}},
		{"nodeSelector label missing", testPod("", "", selector("disk", "ssd")), testNode("n", "1", "1Gi"), usage{}, []string{reasonSelector}},
		{"affinity In", testPod("", "", affinity(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))), testNode("n", "1", "1Gi", label("zone", "b")), usage{}, nil},
		{"affinity NotIn", testPod("", "", affinity(expr("zone", corev1.NodeSelectorOpNotIn, "b"))), testNode("n", "1", "1Gi", label("zone", "b")), usage{}, []string{reasonSelector}},
		{"affinity terms are ORed", testPod("", "", affinity(expr("zone", corev1.NodeSelectorOpIn, "x"), expr("gpu", corev1.NodeSelectorOpExists))),
			testNode("n", "1", "1Gi", label("gpu", "1")), usage{}, nil},
		{"affinity Gt", testPod("", "", affinity(expr("cores", corev1.NodeSelectorOpGt, "8"))), testNode("n", "1", "1Gi", label("cores", "4")), usage{}, []string{reasonSelector}},
		{"affinity on metadata.name", testPod("", "", affinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n"}}}})),
			testNode("n", "1", "1Gi"), usage{}, nil},
		{"the first failing check wins", testPod("4", "", selector("disk", "ssd")), testNode("n", "1", "1Gi", notReady), usage{}, []string{reasonNotReady}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := podRequests(tt.pod)
			got := filter(tt.pod, req, newNodeInfo(tt.node), tt.used)
			if !slices.Equal(got, tt.want) {
				t.Errorf("filter = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestPodRequests(t *testing.T) {
	p := testPod("250m", "100Mi", func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar"})
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}
		p.Spec.Overhead = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("10Mi")}
	})
	req, nonzero := podRequests(p)
	if want := (resources{milliCPU: 1000, memory: 110 << 20}); req != want {
		t.Errorf("requests = %+v; want %+v (the init container's cpu, the containers' memory plus overhead)", req, want)
	}
	// The sidecar asks for nothing: 100m and 200Mi for scoring; the init
	// container's 1 CPU is still the larger.
	if want := (resources{milliCPU: 1000, memory: (100+200)<<20 + 10<<20}); nonzero != want {
		t.Errorf("non-zero requests = %+v; want %+v", nonzero, want)
	}
}

func TestFitMessage(t *testing.T) {
	got := fitMessage(3, map[string]int{reasonCPU: 2, "node(s) had untolerated taint {node.kubernetes.io/unreachable: }": 1})
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu."
	if got != want {
		t.Errorf("fitMessage =\n %q\nwant\n %q", got, want)
	}
	if got := fitMessage(0, nil); got != "no nodes available to schedule pods" {
		t.Errorf("fitMessage with no nodes = %q", got)
	}
}
