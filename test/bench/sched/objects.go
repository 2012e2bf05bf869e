package main

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/scheduler/schedulertest"
)

// The cluster: nodes of four sizes, every tenth one small, and pods of five
// request shapes. At 1000 nodes the capacity is 6100 cores and 12,200 GiB;
// 10,000 pods ask for 4200 cores (69%) and 7750 GiB (64%), so the small
// nodes run out of room for the larger pods and the filters turn nodes
// away, while every pod still fits somewhere.

type shape struct {
	milliCPU int64
	memory   int64 // bytes
}

func (s shape) String() string {
	return fmt.Sprintf("%dm/%dMi", s.milliCPU, s.memory>>20)
}

// nodeShape is node i's capacity (and allocatable).
func nodeShape(i int) shape {
	switch i % 10 {
	case 0:
		return shape{1000, 2 << 30}
	case 1, 2, 3, 4, 5:
		return shape{4000, 8 << 30}
	case 6, 7, 8:
		return shape{8000, 16 << 30}
	default:
		return shape{16000, 32 << 30}
	}
}

// podShapes are the pods' requests, pod j asking for podShapes[j%5].
var podShapes = []shape{
	{100, 128 << 20},
	{250, 256 << 20},
	{500, 512 << 20},
	{1000, 1 << 30},
	{250, 2 << 30},
}

// maxPodsPerNode is each node's allocatable pods, kubelet's default.
const maxPodsPerNode = 110

func nodeName(i int) string { return fmt.Sprintf("node-%04d", i) }

// nodeOptions are node i's for schedulertest: its capacity and a load report
// that says it is 0–59% busy on CPU and 5–54% on memory, varying from node
// to node, so that scoring by measured load has something to weigh. Its
// pods are not "run" (no status writes): the benchmark ends at the binding.
func nodeOptions(i int, interval time.Duration) (string, schedulertest.Options) {
	s := nodeShape(i)
	cpuBusy := float64((i*37)%60) / 100
	memBusy := float64((i*53)%50+5) / 100
	return nodeName(i), schedulertest.Options{
		CPU:      resource.NewMilliQuantity(s.milliCPU, resource.DecimalSI).String(),
		Memory:   resource.NewQuantity(s.memory, resource.BinarySI).String(),
		MaxPods:  maxPodsPerNode,
		Interval: interval,
		Load: &api.LoadReport{
			CPU:    cpuBusy * float64(s.milliCPU) / 1000,
			Memory: int64(memBusy * float64(s.memory)),
		},
	}
}

const (
	podNamespace = "default"
	podLabel     = "bench-sched"
)

func podName(j int) string { return fmt.Sprintf("p-%05d", j) }

// pod j: a bare pod (no owner) with one container asking for its shape.
func pod(j int) *corev1.Pod {
	s := podShapes[j%len(podShapes)]
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: podNamespace, Name: podName(j), Labels: map[string]string{"app": podLabel}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Command: []string{"/bin/app"},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(s.milliCPU, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(s.memory, resource.BinarySI),
			}},
		}}},
	}
}
