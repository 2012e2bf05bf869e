package replicaset

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/controllers/gc"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// startControllers runs a new ReplicaSet controller and garbage collector
// on caches of their own until the returned stop is called (or the test
// ends).
func startControllers(e *controllertest.Env) (stop func()) {
	return e.Start(func(d controller.Deps) []controller.Controller { return []controller.Controller{New(d), gc.New(d)} })
}

// A ReplicaSet adopts an orphan its selector matches instead of creating a
// pod for it, and releases a pod relabelled out of its selector.
func TestReplicaSetAdoptsOrphansAndReleasesPods(t *testing.T) {
	e := controllertest.New(t)
	orphan := e.Create(registry.Pods, controllertest.Pod("stray", map[string]string{"app": "solo"})).(*corev1.Pod)
	startControllers(e)
	rs := e.Create(registry.ReplicaSets, controllertest.ReplicaSet("solo", 2)).(*appsv1.ReplicaSet)
	owned := func() (bool, string) {
		pods := e.Pods("solo")
		var names []string
		hasStray := false
		for _, p := range pods {
			ref := metav1.GetControllerOf(p)
			if ref == nil || ref.UID != rs.UID {
				return false, fmt.Sprintf("pod %s not controlled by the replica set", p.Name)
			}
			hasStray = hasStray || p.UID == orphan.UID
			names = append(names, p.Name)
		}
		return len(pods) == 2 && hasStray, fmt.Sprint(names)
	}
	controllertest.Eventually(t, "the orphan adopted and one pod created", owned)

	_, err := e.Reg.Update(e.Ctx, registry.Pods, "default", "stray", "", func(cur store.Object) (store.Object, error) {
		cur.SetLabels(map[string]string{"app": "elsewhere"})
		cur.SetResourceVersion("")
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the relabelled pod released and replaced", func() (bool, string) {
		p, err := e.Reg.Store.Get(e.Ctx, registry.Pods.Resource, "default", "stray")
		if err != nil {
			return false, err.Error()
		}
		if len(p.GetOwnerReferences()) != 0 {
			return false, fmt.Sprintf("still owned: %+v", p.GetOwnerReferences())
		}
		n := len(e.Pods("solo"))
		return n == 2, fmt.Sprintf("%d pods", n)
	})
}

// A ReplicaSet scaled down deletes its least useful pods first.
func TestReplicaSetDeletesPodsNotReadyFirst(t *testing.T) {
	e := controllertest.New(t)
	startControllers(e)
	e.Create(registry.ReplicaSets, controllertest.ReplicaSet("solo", 4))
	controllertest.Eventually(t, "4 pods", func() (bool, string) { n := len(e.Pods("solo")); return n == 4, fmt.Sprint(n) })
	ready := map[string]bool{}
	for _, p := range e.Pods("solo")[:2] {
		if err := e.MarkReady(p); err != nil {
			t.Fatal(err)
		}
		ready[p.Name] = true
	}
	controllertest.Eventually(t, "2 ready in the status", func() (bool, string) {
		rs := e.ReplicaSets("solo")["solo"]
		return rs.Status.ReadyReplicas == 2, fmt.Sprintf("%+v", rs.Status)
	})
	_, err := e.Reg.Update(e.Ctx, registry.ReplicaSets, "default", "solo", "", func(cur store.Object) (store.Object, error) {
		rs := cur.(*appsv1.ReplicaSet)
		rs.Spec.Replicas = new(int32(2))
		rs.ResourceVersion = ""
		return rs, nil
	}, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "the 2 not ready pods deleted", func() (bool, string) {
		pods := e.Pods("solo")
		var left []string
		for _, p := range pods {
			left = append(left, p.Name)
		}
		return len(pods) == 2 && ready[pods[0].Name] && ready[pods[1].Name], fmt.Sprint(left)
	})
}

func TestPodsForDeletionOrder(t *testing.T) {
	now := time.Now()
	pod := func(name, node string, phase corev1.PodPhase, readySince time.Duration, restarts int32, age time.Duration) *corev1.Pod {
		p := controllertest.Pod(name, nil)
		p.Spec.NodeName = node
		p.Status.Phase = phase
		p.CreationTimestamp = metav1.NewTime(now.Add(-age))
		if readySince > 0 {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(now.Add(-readySince))}}
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: restarts}}
		return p
	}
	costly := pod("costly", "n2", corev1.PodRunning, time.Minute, 0, time.Hour)
	costly.Annotations = map[string]string{podDeletionCost: "100"}
	pods := []*corev1.Pod{
		costly,
		pod("old-ready", "n1", corev1.PodRunning, time.Hour, 0, 2*time.Hour),
		pod("young-ready", "n1", corev1.PodRunning, time.Minute, 0, 2*time.Hour),
		pod("restarts", "n3", corev1.PodRunning, time.Hour, 5, 2*time.Hour),
		pod("running-unready", "n3", corev1.PodRunning, 0, 0, time.Hour),
		pod("pending", "n3", corev1.PodPending, 0, 0, time.Hour),
		pod("unscheduled", "", corev1.PodPending, 0, 0, time.Hour),
	}
	var got []string
	for _, p := range podsForDeletion(pods) {
		got = append(got, p.Name)
	}
	// Of the ready ones with no deletion cost, those on fuller nodes go
	// first (n3 holds 3 of the set, n1 2), then the one ready for less time.
	want := []string{"unscheduled", "pending", "running-unready", "restarts", "young-ready", "old-ready", "costly"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deletion order %v, want %v", got, want)
	}
}
