package registry

import "github.com/shoalmesh/shoal/api"

// The workload resources beyond Deployments, as package api describes them.
var (
	Jobs                     = api.Jobs
	CronJobs                 = api.CronJobs
	HorizontalPodAutoscalers = api.HorizontalPodAutoscalers
)
