package scheduler

import (
	"fmt"
	"math"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// fakeLoad is a LoadSource from a map: cores and bytes by node.
type fakeLoad map[string][2]float64

func (f fakeLoad) NodeLoad(node string) (float64, float64, bool) {
	l, ok := f[node]
	return l[0], l[1], ok
}

func TestScoreNode(t *testing.T) {
	n := newNodeInfo(testNode("n", "4", "8Gi"))
	pod := resources{milliCPU: 1000, memory: 2 << 30}
	tests := []struct {
		name      string
		used      usage
		load      measured
		w         weights
		want      float64
		wantBusy  float64
		wantScore string
	}{
		// 3 of 4 cores and 6 of 8 GiB left: 75 on both.
		{name: "empty node, requests only", w: weights{requests: 1}, want: 75},
		{name: "half requested", used: usage{nonzero: resources{milliCPU: 2000, memory: 4 << 30}}, w: weights{requests: 1}, want: 25, wantBusy: 0.5},
		{name: "over-requested scores 0", used: usage{nonzero: resources{milliCPU: 8000, memory: 16 << 30}}, w: weights{requests: 1}, want: 0, wantBusy: 2},
		// Measured: 2 cores busy + the pod's 1 = 3 of 4 → 25; 2 GiB + 2 GiB of 8 → 50; mean 37.5.
		{name: "measured only", load: measured{cpuCores: 2, memBytes: 2 << 30, ok: true}, w: weights{load: 1}, want: 37.5, wantBusy: 0.5},
		// Requests 75, measured 37.5: mean 56.25.
		{name: "both, equal weights", load: measured{cpuCores: 2, memBytes: 2 << 30, ok: true}, w: weights{requests: 1, load: 1}, want: 56.25, wantBusy: 0.5},
		{name: "no report: measured counts as requested", w: weights{requests: 1, load: 1}, want: 75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scoreNode(n, tt.used, pod, tt.load, tt.w)
			if math.Abs(got.score-tt.want) > 1e-6 || math.Abs(got.busy-tt.wantBusy) > 1e-6 {
				t.Errorf("score = %v busy %v; want %v busy %v", got.score, got.busy, tt.want, tt.wantBusy)
			}
		})
	}
}

// TestPick chooses among nodes as the scheduler does, through run.pick.
func TestPick(t *testing.T) {
	type nodeState struct {
		node *corev1.Node
		used usage
	}
	big := func(name string) *corev1.Node { return testNode(name, "4", "8Gi") }
	placed := func(cpu, mem int64, pods int64) usage {
		return usage{requested: resources{cpu, mem}, nonzero: resources{cpu, mem}, pods: pods}
	}
	tests := []struct {
		name  string
		nodes []nodeState
		load  fakeLoad
		pod   *corev1.Pod
		want  string
	}{
		{"least requested wins", []nodeState{{big("a"), placed(2000, 1<<30, 2)}, {big("b"), placed(500, 1<<30, 1)}, {big("c"), placed(1000, 1<<30, 1)}},
			nil, testPod("100m", "100Mi"), "b"},
		{"a bigger node is less allocated", []nodeState{{testNode("a", "2", "4Gi"), placed(1000, 2<<30, 1)}, {big("b"), placed(1000, 2<<30, 1)}},
			nil, testPod("100m", "100Mi"), "b"},
		{"measured load breaks equal requests", []nodeState{{big("a"), usage{}}, {big("b"), usage{}}},
			fakeLoad{"a": {3, 1 << 30}, "b": {0.5, 1 << 30}}, testPod("100m", "100Mi"), "b"},
		{"a busy node loses despite fewer requests", []nodeState{{big("a"), usage{}}, {big("b"), placed(500, 512<<20, 1)}},
			fakeLoad{"a": {3.5, 6 << 30}, "b": {0.2, 1 << 30}}, testPod("100m", "100Mi"), "b"},
		{"a silent node is judged by its requests", []nodeState{{big("a"), placed(2000, 4<<30, 2)}, {big("b"), usage{}}},
			fakeLoad{"a": {0, 0}}, testPod("100m", "100Mi"), "b"},
		{"tie: the less busy CPU", []nodeState{{big("a"), usage{}}, {big("b"), usage{}}},
			// Same score (cpu 1+0.1 vs memory mirrored), different CPU use.
			fakeLoad{"a": {2, 2 << 30}, "b": {1, 4 << 30}}, testPod("", ""), "b"},
		{"tie: fewer pods", []nodeState{{big("a"), usage{pods: 3}}, {big("b"), usage{pods: 1}}},
			nil, testPod("", ""), "b"},
		{"tie: the first by name", []nodeState{{big("b"), usage{}}, {big("a"), usage{}}, {big("c"), usage{}}},
			nil, testPod("", ""), "a"},
		{"only a feasible node is chosen", []nodeState{{testNode("a", "1", "1Gi"), usage{}}, {big("b"), placed(2000, 6<<30, 3)}},
			nil, testPod("2", ""), "b"},
		{"nothing fits", []nodeState{{testNode("a", "1", "1Gi"), usage{}}}, nil, testPod("2", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{nodes: map[string]*nodeInfo{}, usage: map[string]*usage{}, load: tt.load, w: weights{1, 1}}
			if tt.load == nil {
				r.load = fakeLoad{}
			}
			for _, ns := range tt.nodes {
				r.nodes[ns.node.Name] = newNodeInfo(ns.node)
				u := ns.used
				r.usage[ns.node.Name] = &u
			}
			req, nonzero := podRequests(tt.pod)
			got, reasons := r.pick(tt.pod, req, nonzero)
			if got != tt.want {
				t.Errorf("pick = %q (reasons %v); want %q", got, reasons, tt.want)
			}
		})
	}
}

// BenchmarkPick is one scheduling decision among 1000 nodes, each with a
// load report: the scheduler's work per pod besides the binding.
func BenchmarkPick(b *testing.B) {
	r := &run{nodes: map[string]*nodeInfo{}, usage: map[string]*usage{}, w: weights{1, 1}}
	load := fakeLoad{}
	for i := range 1000 {
		name := fmt.Sprintf("node-%04d", i)
		r.nodes[name] = newNodeInfo(testNode(name, "16", "64Gi", taint("shoal.io/pool", "x", corev1.TaintEffectPreferNoSchedule)))
		r.usage[name] = &usage{requested: resources{int64(i % 8000), int64(i) << 24}, nonzero: resources{int64(i % 8000), int64(i) << 24}, pods: int64(i % 50)}
		load[name] = [2]float64{float64(i%16) / 2, float64(i) * (1 << 25)}
	}
	r.load = load
	pod := testPod("250m", "256Mi")
	req, nonzero := podRequests(pod)
	b.ReportAllocs()
	for b.Loop() {
		if n, _ := r.pick(pod, req, nonzero); n == "" {
			b.Fatal("no node")
		}
	}
}
