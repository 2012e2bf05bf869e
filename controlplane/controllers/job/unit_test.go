package job

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestBackoffRemaining(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base, maxDelay := 10*time.Second, 6*time.Minute
	for _, tc := range []struct {
		failures int32
		since    time.Duration
		want     time.Duration
	}{
		{0, 0, 0},
		{1, 0, 10 * time.Second},
		{1, 4 * time.Second, 6 * time.Second},
		{1, 11 * time.Second, 0},
		{2, 0, 20 * time.Second},
		{3, 0, 40 * time.Second},
		{6, 0, 320 * time.Second},
		{7, 0, 6 * time.Minute}, // 640 s capped
		{30, time.Minute, 5 * time.Minute},
	} {
		b := backoffRecord{failures: tc.failures, lastFailure: t0}
		if got := b.remaining(t0.Add(tc.since), base, maxDelay); got != tc.want {
			t.Errorf("%d failures, %v after the last: wait %v; want %v", tc.failures, tc.since, got, tc.want)
		}
	}
}

func TestBackoffNext(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pod := func(phase corev1.PodPhase, at time.Duration) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(t0.Add(at))}}}}}}
	}
	start := backoffRecord{failures: 2, lastFailure: t0}
	for _, tc := range []struct {
		name     string
		ok, fail []*corev1.Pod
		want     backoffRecord
	}{
		{"nothing new", nil, nil, start},
		{"two more failures", nil, []*corev1.Pod{pod(corev1.PodFailed, 5*time.Second), pod(corev1.PodFailed, 3*time.Second)},
			backoffRecord{failures: 4, lastFailure: t0.Add(5 * time.Second)}},
		{"a success resets", []*corev1.Pod{pod(corev1.PodSucceeded, time.Second)}, nil, backoffRecord{}},
		{"failures after a success count", []*corev1.Pod{pod(corev1.PodSucceeded, 2*time.Second)},
			[]*corev1.Pod{pod(corev1.PodFailed, time.Second), pod(corev1.PodFailed, 3*time.Second)},
			backoffRecord{failures: 1, lastFailure: t0.Add(3 * time.Second)}},
	} {
		if got := start.next(tc.ok, tc.fail); got != tc.want {
			t.Errorf("%s: %+v; want %+v", tc.name, got, tc.want)
		}
	}
}

func TestIndexSet(t *testing.T) {
	for _, tc := range []struct {
		in          string
		completions int
		add         []int
		want        string
		total       int
	}{
		{"", 4, nil, "", 0},
		{"", 4, []int{2, 0, 1}, "0-2", 3},
		{"0,2", 4, []int{3}, "0,2,3", 3},
		{"1-3,7", 10, []int{4, 8, 9}, "1-4,7-9", 7},
		{"0-9", 5, nil, "0-4", 5}, // indexes past completions are dropped
		{"x,2,5-3", 6, nil, "2", 1},
	} {
		s := parseIndexes(tc.in, tc.completions).with(tc.add)
		if s.String() != tc.want || s.total() != tc.total {
			t.Errorf("parse(%q)+%v = %q (%d); want %q (%d)", tc.in, tc.add, s.String(), s.total(), tc.want, tc.total)
		}
	}
	running := []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: "1"}}}}
	if got := pendingIndexes(parseIndexes("0,3", 6), running, 3, 6); !slices.Equal(got, []int{2, 4, 5}) {
		t.Errorf("pending = %v; want [2 4 5]", got)
	}
	if got := podGenerateName("train", 12); got != "train-12-" {
		t.Errorf("generateName = %q", got)
	}
}
