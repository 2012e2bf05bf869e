// Package nodeload is where the node load report used to live; the format
// is package api's now (api.LoadReport, api.AnnotationLoad). These names
// remain only for the scheduler and the node agent, which other changes
// are editing at the same time; delete the package once nothing imports
// it.
package nodeload

import (
	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/shoalmesh/shoal/api"
)

type (
	// Report is api.LoadReport.
	Report = api.LoadReport
	// PodLoad is api.PodLoad.
	PodLoad = api.PodLoad
)

const (
	// Namespace is api.NodeLeaseNamespace.
	Namespace = api.NodeLeaseNamespace
	// Interval is api.LoadInterval.
	Interval = api.LoadInterval
)

// Get is api.LoadReportOf.
func Get(l *coordinationv1.Lease) (Report, bool, error) { return api.LoadReportOf(l) }

// Set is api.SetLoadReport.
func Set(l *coordinationv1.Lease, r Report) error { return api.SetLoadReport(l, r) }
