package api

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
)

func TestLoadReportRoundTrip(t *testing.T) {
	l := &coordinationv1.Lease{}
	want := LoadReport{CPU: 1.25, Memory: 2 << 30, Pods: 7, Time: time.Date(2026, 1, 2, 15, 4, 5, 123e6, time.UTC),
		PodLoads: map[string]PodLoad{"default/web-1": {CPU: 0.5, Memory: 100 << 20, Connections: 12}}}
	if err := SetLoadReport(l, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := LoadReportOf(l)
	if err != nil || !ok {
		t.Fatalf("LoadReportOf = %v, %v", ok, err)
	}
	if got.CPU != want.CPU || got.Memory != want.Memory || got.Pods != want.Pods || !got.Time.Equal(want.Time) || got.PodLoads["default/web-1"] != want.PodLoads["default/web-1"] {
		t.Fatalf("round trip: got %+v, want %+v", got, want)
	}
	if _, ok, err := LoadReportOf(&coordinationv1.Lease{}); ok || err != nil {
		t.Fatalf("LoadReportOf of a lease without a report = %v, %v; want false, nil", ok, err)
	}
}

func TestParseLoadReportRejects(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"cpu":-1}`, "cpu -1"},
		{`{"memory":-5}`, "memory -5"},
		{`{"pods":-1}`, "pods -1"},
		{`{"podLoads":{"a/b":{"cpu":-0.1}}}`, "podLoads[a/b]"},
		{`{"cpu":"lots"}`, "cannot unmarshal"},
		{`not json`, "invalid character"},
	} {
		_, err := ParseLoadReport(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseLoadReport(%s) = %v; want an error containing %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParseLoadReport(`{"cpu":0.5,"memory":1024,"pods":2}`); err != nil {
		t.Errorf("ParseLoadReport of a good report: %v", err)
	}
}
