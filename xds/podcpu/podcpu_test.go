package podcpu

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/xds/load"
)

type podMap map[string]*corev1.Pod

func (m podMap) Get(ns, name string) (store.Object, bool) {
	p, ok := m[ns+"/"+name]
	return p, ok
}

func TestApply(t *testing.T) {
	pods := podMap{
		"default/web-1": {Status: corev1.PodStatus{PodIP: "10.244.1.5"}},
		"default/host":  {Spec: corev1.PodSpec{HostNetwork: true}, Status: corev1.PodStatus{PodIP: "192.168.1.2"}},
	}
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: api.NodeLeaseNamespace, Name: "node-1"}}
	if err := api.SetLoadReport(l, api.LoadReport{CPU: 1, Memory: 1 << 30, Pods: 2, PodLoads: map[string]api.PodLoad{
		"default/web-1": {CPU: 0.75}, "default/host": {CPU: 0.5}, "default/gone": {CPU: 0.1}, "bad": {CPU: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	table := load.NewTable()
	now := time.Now()
	Apply(l, pods, table, now)
	snap := table.Snapshot(now)
	if got := snap["10.244.1.5"].CPU; got != 0.75 {
		t.Errorf("web-1 CPU = %v, want 0.75", got)
	}
	if len(snap) != 1 {
		t.Errorf("snapshot %v: want only the pod-network pod", snap)
	}
}
