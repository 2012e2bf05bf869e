package probe_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shoalmesh/shoal/nodeagent/probe"
	corev1 "k8s.io/api/core/v1"
)

// probeCounts reads shoal_nodeagent_probe_total by probe_type/result.
func probeCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "shoal_nodeagent_probe_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if len(labels) != 2 {
				t.Errorf("labels %v, want probe_type and result only", labels)
			}
			counts[labels["probe_type"]+"/"+labels["result"]] = m.GetCounter().GetValue()
		}
	}
	return counts
}

// TestMetrics is not parallel, so that only its probes are counted.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := probe.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := probe.RegisterMetrics(reg); err != nil {
		t.Fatalf("registering twice: %v", err)
	}
	before := probeCounts(t, reg)

	m, clock := newTestManager(t, 0)
	ex := newScript(map[string][]int{"live": {0, 0, 1}, "ready": {1}})
	spec := corev1.Container{Name: "app", LivenessProbe: execProbe("live", nil), ReadinessProbe: execProbe("ready", nil)}
	if err := m.Add(container("pod-1", spec, ex)); err != nil {
		t.Fatal(err)
	}
	noExec := corev1.Container{Name: "app", StartupProbe: execProbe("start", nil)}
	if err := m.Add(container("pod-2", noExec, nil)); err != nil {
		t.Fatal(err)
	}
	waitTimers(t, clock, 3)
	for range 2 {
		clock.Advance(period)
		waitTimers(t, clock, 3)
	}
	after := probeCounts(t, reg)
	for key, want := range map[string]float64{
		"liveness/success": 2, "liveness/failure": 1,
		"readiness/failure": 3, "startup/unknown": 3,
	} {
		if got := after[key] - before[key]; got != want {
			t.Errorf("%s: %v probes counted, want %v", key, got, want)
		}
	}
}
