// Package controllers makes what operators ask for true: EndpointSlices and
// Endpoints for label-selected Services, Deployments → ReplicaSets → Pods
// with rolling updates, Jobs and CronJobs, horizontal pod autoscaling,
// garbage collection through ownerReferences, node lifecycle (nodes whose
// Lease stops are marked NotReady and their pods moved), and Events for
// what they did.
//
// Each controller is a package of its own, as in Kubernetes'
// pkg/controller/<name>:
//
//	endpointslice  EndpointSlices of Services with a selector
//	endpoints      core/v1 Endpoints of the same Services
//	endpoint       what those two share: pod and selector indexes, pod → endpoint
//	replicaset     pods of ReplicaSets: create, adopt, release, delete the least useful
//	deployment     ReplicaSets of Deployments: rollouts, revisions, status
//	gc             the garbage collector: dependents of deleted owners
//	nodelifecycle  NotReady nodes, the unreachable taint, eviction of their pods
//	clusterroleaggregation  the rules of aggregated ClusterRoles (admin, edit, view)
//	job            batch Jobs: pods to completion, indexes, back-off, deadlines
//	cronjob        the Jobs of CronJobs, on their schedule
//	podautoscaler  HorizontalPodAutoscalers: CPU, memory and Shoal's traffic metrics
//	controllertest what their tests share: an Env on a real embedded etcd
//
// What they all run on (the Controller interface, the work queue, leader
// election, the event recorder) is package controller, which the scheduler
// and the xDS weight loop use too. This package composes the controllers:
// All builds every one, RunElected runs them on the replica elected through
// etcd (/shoal/leader/controllers), Leader reads which replica that is.
//
// Controllers read from the process's shared caches (store.Caches), act on
// their events by queueing object keys, and reconcile each key from the
// cached state: a missed or repeated event changes nothing. They write
// through registry.Registry, so every write meets the same rules as one
// through the API server. With several control-plane replicas, one leader
// runs them.
package controllers
