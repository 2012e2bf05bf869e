package loadreport

import "errors"

var (
	errNoConfig    = errors.New("loadreport: Addr, NodeID and Clusters are required")
	errRunning     = errors.New("loadreport: Run is already running")
	errBadInterval = errors.New("server sent no usable load_reporting_interval")
)
