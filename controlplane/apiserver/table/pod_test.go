package table

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// runningPod is a Deployment's pod, ready, whose container was OOM-killed
// three times, last 5 minutes ago.
func runningPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              "web-7d4b9c8f6-x2x5q",
			Namespace:         "default",
			UID:               "1f7c1b1e-4f0e-4c55-9d43-5a3c2c0e9b1a",
			ResourceVersion:   "1234",
			CreationTimestamp: ago(48 * time.Hour),
			Labels:            map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6"},
		},
		Spec: corev1.PodSpec{
			NodeName:   "node-a",
			Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}},
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIP:  "10.244.1.7",
			PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:                 "web",
				Ready:                true,
				RestartCount:         3,
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(5 * time.Minute)}},
				LastTerminationState: terminated("OOMKilled", 137, 5*time.Minute),
			}},
		},
	}
}

func terminated(reason string, code int32, finished time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, FinishedAt: ago(finished)}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}
}

// pod builds a pod created 10 seconds ago with the given containers and
// statuses; edit further as a case needs.
func pod(name string, phase corev1.PodPhase, containers []string, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(10 * time.Second)},
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: c + ":latest"})
	}
	return p
}

func TestPodRows(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	started := true
	tests := []struct {
		name string
		pod  func() *corev1.Pod
		want []any // NAME READY STATUS RESTARTS AGE IP NODE NOMINATED READINESS
	}{
		{"running with restarts", runningPod,
			[]any{"web-7d4b9c8f6-x2x5q", "1/1", "Running", "3 (5m ago)", "2d", "10.244.1.7", "node-a", "<none>", "<none>"}},
		{"pending unscheduled", func() *corev1.Pod {
			p := pod("pending", corev1.PodPending, []string{"app"})
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}}
			p.Status.NominatedNodeName = "node-b"
			return p
		}, []any{"pending", "0/1", "Pending", "0", "10s", "<none>", "<none>", "node-b", "<none>"}},
		{"scheduling gated", func() *corev1.Pod {
			p := pod("gated", corev1.PodPending, []string{"app"})
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}
			return p
		}, []any{"gated", "0/1", "SchedulingGated", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"container creating", func() *corev1.Pod {
			p := pod("creating", corev1.PodPending, []string{"app"}, corev1.ContainerStatus{Name: "app", State: waiting("ContainerCreating")})
			p.Spec.NodeName = "node-a"
			return p
		}, []any{"creating", "0/1", "ContainerCreating", "0", "10s", "<none>", "node-a", "<none>", "<none>"}},
		{"crash loop", func() *corev1.Pod {
			return pod("crash", corev1.PodRunning, []string{"app"}, corev1.ContainerStatus{
				Name: "app", RestartCount: 4, State: waiting("CrashLoopBackOff"), LastTerminationState: terminated("Error", 1, 30*time.Second),
			})
		}, []any{"crash", "0/1", "CrashLoopBackOff", "4 (30s ago)", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"one of two ready", func() *corev1.Pod {
			return pod("half", corev1.PodRunning, []string{"app", "proxy"},
				corev1.ContainerStatus{Name: "app", Ready: true, State: running()},
				corev1.ContainerStatus{Name: "proxy", State: running()})
		}, []any{"half", "1/2", "Running", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"init running", func() *corev1.Pod {
			p := pod("init", corev1.PodPending, []string{"app"})
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}, {Name: "warm"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: running()}, {Name: "warm", State: waiting("PodInitializing")}}
			return p
		}, []any{"init", "0/1", "Init:0/2", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"init image pull", func() *corev1.Pod {
			p := pod("pull", corev1.PodPending, []string{"app"})
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: waiting("ImagePullBackOff")}}
			return p
		}, []any{"pull", "0/1", "Init:ImagePullBackOff", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"init failed without reason", func() *corev1.Pod {
			p := pod("initfail", corev1.PodPending, []string{"app"})
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{
				Name: "migrate", RestartCount: 2, State: terminated("", 1, time.Second), LastTerminationState: terminated("", 1, 20*time.Second),
			}}
			return p
		}, []any{"initfail", "0/1", "Init:ExitCode:1", "2 (20s ago)", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"sidecar counts as a container", func() *corev1.Pod {
			p := pod("sidecar", corev1.PodRunning, []string{"app"}, corev1.ContainerStatus{Name: "app", Ready: true, State: running()})
			p.Spec.InitContainers = []corev1.Container{{Name: "mesh", RestartPolicy: &always}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "mesh", Ready: true, Started: &started, State: running(), RestartCount: 1, LastTerminationState: terminated("Error", 1, time.Hour)}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}
			return p
		}, []any{"sidecar", "2/2", "Running", "1 (60m ago)", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"succeeded", func() *corev1.Pod {
			return pod("job-x", corev1.PodSucceeded, []string{"task"}, corev1.ContainerStatus{Name: "task", State: terminated("Completed", 0, time.Second)})
		}, []any{"job-x", "0/1", "Completed", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"completed next to running", func() *corev1.Pod {
			p := pod("mixed", corev1.PodRunning, []string{"app", "setup"},
				corev1.ContainerStatus{Name: "app", Ready: true, State: running()},
				corev1.ContainerStatus{Name: "setup", State: terminated("Completed", 0, time.Second)})
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			return p
		}, []any{"mixed", "1/2", "Running", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"completed next to failed", func() *corev1.Pod {
			return pod("failed", corev1.PodFailed, []string{"setup", "app"},
				corev1.ContainerStatus{Name: "setup", State: terminated("Completed", 0, time.Second)},
				corev1.ContainerStatus{Name: "app", State: terminated("Error", 2, time.Second)})
		}, []any{"failed", "0/2", "Error", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"killed by signal", func() *corev1.Pod {
			p := pod("sig", corev1.PodRunning, []string{"app"})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Signal: 9, ExitCode: 137}}}}
			return p
		}, []any{"sig", "0/1", "Signal:9", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"terminating", func() *corev1.Pod {
			p := runningPod()
			p.DeletionTimestamp = &metav1.Time{Time: now}
			return p
		}, []any{"web-7d4b9c8f6-x2x5q", "1/1", "Terminating", "3 (5m ago)", "2d", "10.244.1.7", "node-a", "<none>", "<none>"}},
		{"node lost", func() *corev1.Pod {
			p := runningPod()
			p.DeletionTimestamp = &metav1.Time{Time: now}
			p.Status.Reason = "NodeLost"
			return p
		}, []any{"web-7d4b9c8f6-x2x5q", "1/1", "Unknown", "3 (5m ago)", "2d", "10.244.1.7", "node-a", "<none>", "<none>"}},
		{"evicted", func() *corev1.Pod {
			p := pod("evicted", corev1.PodFailed, []string{"app"})
			p.Status.Reason = "Evicted"
			p.DeletionTimestamp = &metav1.Time{Time: now}
			return p
		}, []any{"evicted", "0/1", "Evicted", "0", "10s", "<none>", "<none>", "<none>", "<none>"}},
		{"readiness gates", func() *corev1.Pod {
			p := runningPod()
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "lb.example.com/ready"}, {ConditionType: "mesh.example.com/ready"}}
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: "lb.example.com/ready", Status: corev1.ConditionTrue})
			return p
		}, []any{"web-7d4b9c8f6-x2x5q", "1/1", "Running", "3 (5m ago)", "2d", "10.244.1.7", "node-a", "<none>", "1/2"}},
		{"pod IP without podIPs", func() *corev1.Pod {
			p := runningPod()
			p.Status.PodIPs = nil
			return p
		}, []any{"web-7d4b9c8f6-x2x5q", "1/1", "Running", "3 (5m ago)", "2d", "10.244.1.7", "node-a", "<none>", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, podGK, tt.pod()), tt.want)
		})
	}
}

func TestPodRowConditions(t *testing.T) {
	tests := []struct {
		phase corev1.PodPhase
		want  []metav1.TableRowCondition
	}{
		{corev1.PodRunning, nil},
		{corev1.PodSucceeded, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "The pod has completed successfully."}}},
		{corev1.PodFailed, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Failed", Message: "The pod failed."}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) {
			tbl, err := Convert(podGK, []runtime.Object{pod("p", tt.phase, []string{"app"})}, metav1.IncludeNone, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := tbl.Rows[0].Conditions; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("conditions = %+v, want %+v", got, tt.want)
			}
		})
	}
}
