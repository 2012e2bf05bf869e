package table

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// backOffEvent is a kubelet event of the old API, seen three times.
func backOffEvent() *corev1.Event {
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c8f6-x2x5q.17a2b3c4d5e6f708", Namespace: "default", CreationTimestamp: ago(10 * time.Minute)},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", Namespace: "default", Name: "web-7d4b9c8f6-x2x5q", FieldPath: "spec.containers{web}",
		},
		Reason:         "BackOff",
		Message:        "Back-off restarting failed container web in pod web-7d4b9c8f6-x2x5q\n",
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp: ago(10 * time.Minute),
		LastTimestamp:  ago(2 * time.Minute),
		Count:          3,
		Type:           corev1.EventTypeWarning,
	}
}

func TestEventRows(t *testing.T) {
	gk := schema.GroupKind{Kind: "Event"}
	scheduled := func() *corev1.Event {
		return &corev1.Event{
			ObjectMeta:          metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
			InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Name: "web"},
			Reason:              "Scheduled",
			Message:             "Successfully assigned default/web to node-a",
			EventTime:           metav1.NewMicroTime(now.Add(-30 * time.Second)),
			ReportingController: "default-scheduler",
			ReportingInstance:   "default-scheduler-node-a",
			Type:                corev1.EventTypeNormal,
		}
	}
	tests := []struct {
		name string
		ev   func() *corev1.Event
		want []any // LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME
	}{
		{"repeated kubelet event", backOffEvent, []any{
			"2m", "Warning", "BackOff", "pod/web-7d4b9c8f6-x2x5q", "spec.containers{web}", "kubelet, node-a",
			"Back-off restarting failed container web in pod web-7d4b9c8f6-x2x5q", "10m", int64(3), "web-7d4b9c8f6-x2x5q.17a2b3c4d5e6f708",
		}},
		{"new API singleton", scheduled, []any{
			"30s", "Normal", "Scheduled", "pod/web", "", "default-scheduler, default-scheduler-node-a",
			"Successfully assigned default/web to node-a", "30s", int64(1), "web.1",
		}},
		{"new API series", func() *corev1.Event {
			ev := scheduled()
			ev.ReportingInstance = ""
			ev.Series = &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(now.Add(-5 * time.Second))}
			return ev
		}, []any{
			"5s", "Normal", "Scheduled", "pod/web", "", "default-scheduler",
			"Successfully assigned default/web to node-a", "30s", int64(7), "web.1",
		}},
		{"object without name", func() *corev1.Event {
			ev := backOffEvent()
			ev.InvolvedObject = corev1.ObjectReference{Kind: "Node"}
			return ev
		}, []any{
			"2m", "Warning", "BackOff", "node", "", "kubelet, node-a",
			"Back-off restarting failed container web in pod web-7d4b9c8f6-x2x5q", "10m", int64(3), "web-7d4b9c8f6-x2x5q.17a2b3c4d5e6f708",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, gk, tt.ev()), tt.want)
		})
	}
}

func TestEventsV1MatchesCoreEvent(t *testing.T) {
	core := backOffEvent()
	v1 := &eventsv1.Event{
		ObjectMeta:               core.ObjectMeta,
		Regarding:                core.InvolvedObject,
		Reason:                   core.Reason,
		Note:                     core.Message,
		DeprecatedSource:         core.Source,
		DeprecatedFirstTimestamp: core.FirstTimestamp,
		DeprecatedLastTimestamp:  core.LastTimestamp,
		DeprecatedCount:          core.Count,
		Type:                     core.Type,
	}
	got := rowCells(t, schema.GroupKind{Group: "events.k8s.io", Kind: "Event"}, v1)
	assertCells(t, got, rowCells(t, schema.GroupKind{Kind: "Event"}, core))
}

func TestLeaseRows(t *testing.T) {
	gk := schema.GroupKind{Group: "coordination.k8s.io", Kind: "Lease"}
	tests := []struct {
		name  string
		lease runtime.Object
		want  []any
	}{
		{"held", &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "node-a", Namespace: "kube-node-lease", CreationTimestamp: ago(3 * 24 * time.Hour)},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr("node-a"), LeaseDurationSeconds: ptr[int32](40)},
		}, []any{"node-a", "node-a", "3d"}},
		{"free", &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "shoal-scheduler", Namespace: "kube-system", CreationTimestamp: ago(time.Minute)},
		}, []any{"shoal-scheduler", "", "60s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, gk, tt.lease), tt.want)
		})
	}
}
