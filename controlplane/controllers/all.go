package controllers

import (
	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/clusterroleaggregation"
	"github.com/shoalmesh/shoal/controlplane/controllers/cronjob"
	"github.com/shoalmesh/shoal/controlplane/controllers/deployment"
	"github.com/shoalmesh/shoal/controlplane/controllers/endpoints"
	"github.com/shoalmesh/shoal/controlplane/controllers/endpointslice"
	"github.com/shoalmesh/shoal/controlplane/controllers/gc"
	"github.com/shoalmesh/shoal/controlplane/controllers/job"
	"github.com/shoalmesh/shoal/controlplane/controllers/nodelifecycle"
	"github.com/shoalmesh/shoal/controlplane/controllers/podautoscaler"
	"github.com/shoalmesh/shoal/controlplane/controllers/replicaset"
	"github.com/shoalmesh/shoal/controlplane/controllers/rootca"
	"github.com/shoalmesh/shoal/controlplane/controllers/serviceaccount"
)

// All returns every controller Shoal runs, built from d.
func All(d controller.Deps) []controller.Controller {
	return []controller.Controller{
		endpointslice.New(d),
		endpoints.New(d),
		replicaset.New(d),
		deployment.New(d),
		gc.New(d),
		nodelifecycle.New(d, nodelifecycle.Config{}),
		serviceaccount.New(d), rootca.New(d),
		clusterroleaggregation.New(d),
		job.New(d, job.Config{}),
		cronjob.New(d, cronjob.Config{}),
		podautoscaler.New(d, podautoscaler.Config{}),
	}
}
