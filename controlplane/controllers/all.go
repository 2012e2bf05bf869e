package controllers

// All returns every controller Shoal runs, built from d.
func All(d Deps) []Controller {
	return []Controller{
		NewEndpointSliceController(d),
		NewEndpointsController(d),
		NewReplicaSetController(d),
		NewDeploymentController(d),
		NewGarbageCollector(d),
		NewNodeLifecycleController(d),
	}
}
