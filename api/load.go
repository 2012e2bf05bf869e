package api

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
)

const (
	// NodeLeaseNamespace holds the node Leases, which carry the reports in
	// AnnotationLoad.
	NodeLeaseNamespace = corev1.NamespaceNodeLease
	// LoadInterval is how often an agent renews its Lease with a fresh
	// report.
	LoadInterval = 2 * time.Second
)

// LoadReport is one node's measured load, as its node agent publishes it and
// the scheduler, the xDS control plane and the metrics API read it.
//
// The report rides on the node's heartbeat: the coordination.k8s.io/v1
// Lease kube-node-lease/<node name>, which the agent renews every
// LoadInterval, carries it as JSON in the annotation shoal.io/load. Each
// renewal writes the Lease once, with spec.renewTime and the fresh report
// together, so a node costs one write per interval however many pods it
// runs, and a node token (which may write only its own Lease) is enough:
//
//	apiVersion: coordination.k8s.io/v1
//	kind: Lease
//	metadata:
//	  namespace: kube-node-lease
//	  name: node-1
//	  annotations:
//	    shoal.io/load: '{"cpu":1.25,"memory":2147483648,"pods":7,"time":"2026-01-02T15:04:05.123Z",
//	      "podLoads":{"default/web-7d9f-abcde":{"cpu":0.5,"memory":104857600,"connections":12}}}'
//	spec:
//	  holderIdentity: node-1
//	  leaseDurationSeconds: 40
//	  renewTime: "2026-01-02T15:04:05.123000Z"
//
// cpu is the cores in use on the node (all processes, not only pods) averaged
// over the last interval, memory the bytes in use (the working set: total
// minus available), pods the pods running. podLoads is optional and keyed by
// "namespace/name". Readers judge freshness by when they saw the Lease change,
// not by time, which is the agent's clock and informational only.
type LoadReport struct {
	// CPU is the cores in use (1.5 is one and a half cores busy).
	CPU float64 `json:"cpu"`
	// Memory is the bytes in use.
	Memory int64 `json:"memory"`
	// Pods is the number of pods running on the node.
	Pods int `json:"pods"`
	// Time is when the agent measured, by its clock.
	Time time.Time `json:"time,omitzero"`
	// PodLoads is the load of each pod, by "namespace/name".
	PodLoads map[string]PodLoad `json:"podLoads,omitempty"`
}

// PodLoad is one pod's measured load.
type PodLoad struct {
	CPU         float64 `json:"cpu"`
	Memory      int64   `json:"memory"`
	Connections int64   `json:"connections,omitempty"`
}

// ParseLoadReport decodes and checks a report (AnnotationLoad's value).
func ParseLoadReport(s string) (LoadReport, error) {
	var r LoadReport
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return LoadReport{}, fmt.Errorf("load report: %w", err)
	}
	return r, r.check()
}

func (r LoadReport) check() error {
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case bad(r.CPU):
		return fmt.Errorf("load report: cpu %v: must be a non-negative number of cores", r.CPU)
	case r.Memory < 0:
		return fmt.Errorf("load report: memory %d: must be a non-negative number of bytes", r.Memory)
	case r.Pods < 0:
		return fmt.Errorf("load report: pods %d: must be non-negative", r.Pods)
	}
	for k, p := range r.PodLoads {
		if bad(p.CPU) || p.Memory < 0 || p.Connections < 0 {
			return fmt.Errorf("load report: podLoads[%s]: cpu, memory and connections must be non-negative", k)
		}
	}
	return nil
}

// LoadReportOf returns the report on a node Lease; ok is false when it
// carries none.
func LoadReportOf(l *coordinationv1.Lease) (r LoadReport, ok bool, err error) {
	s, ok := l.Annotations[AnnotationLoad]
	if !ok {
		return LoadReport{}, false, nil
	}
	r, err = ParseLoadReport(s)
	return r, err == nil, err
}

// SetLoadReport puts r on a node Lease, replacing the report it carried.
func SetLoadReport(l *coordinationv1.Lease, r LoadReport) error {
	if err := r.check(); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("load report: %w", err)
	}
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[AnnotationLoad] = string(b)
	return nil
}
