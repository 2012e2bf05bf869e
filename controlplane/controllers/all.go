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

// Config times the controllers that have settings; its zero value is the
// defaults.
type Config struct {
	// NodeLifecycle times failure detection: how long a node's Lease may go
	// unrenewed, and how long its pods then stay before they are evicted.
	NodeLifecycle nodelifecycle.Config
}

// All returns every controller Shoal runs, built from d.
func All(d controller.Deps, cfg Config) []controller.Controller {
	return []controller.Controller{
		endpointslice.New(d),
		endpoints.New(d),
		replicaset.New(d),
		deployment.New(d),
		gc.New(d),
		nodelifecycle.New(d, cfg.NodeLifecycle),
		serviceaccount.New(d), rootca.New(d),
		clusterroleaggregation.New(d),
		job.New(d, job.Config{}),
		cronjob.New(d, cronjob.Config{}),
		podautoscaler.New(d, podautoscaler.Config{}),
	}
}
