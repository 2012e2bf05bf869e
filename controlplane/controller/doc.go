// Package controller is the machinery every Shoal control loop shares, as
// client-go's workqueue, leaderelection and record packages are for
// Kubernetes: the controllers (package controllers and its subpackages),
// the scheduler and the xDS weight loop import it, never each other.
//
//   - Controller is one control loop; Deps is what a controller is built
//     from (the registry it writes through, the process's shared caches, the
//     event recorder, a logger); Run runs several until their context ends.
//   - Queue is a controller's work queue: cache events queue object keys
//     (Key, SplitKey), workers reconcile them, failures are retried with
//     back-off, and every reconcile is counted in the
//     shoal_controllers_* metrics (RegisterMetrics), labelled by controller.
//   - RunElection runs controllers on one replica at a time: the leader
//     elected through etcd at a key prefix, which keeps the lead while its
//     lease (LeaseTTL) is renewed; LeaderOf reads who leads.
//   - Recorder writes core/v1 Events asynchronously, folding repeats into a
//     count, as Kubernetes' event recorder does.
//   - Writes lets a sync wait until the caches show its own writes (what
//     Kubernetes' expectations are for), Echoes lets a controller skip the
//     cache events of its own writes; IsKind, WithoutOwner and ErrClaimGone
//     serve adopting and releasing through ownerReferences.
//
// A controller reconciles each key from the cached state, so a missed or
// repeated event changes nothing:
//
//	q := controller.NewQueue("example", log, func(ctx context.Context, key string) error {
//		ns, name := controller.SplitKey(key)
//		obj, ok := cache.Get(ns, name)
//		... // make the world match obj (or its absence)
//	})
//	defer cache.Subscribe(func(e store.Event) {
//		if controller.IsChange(e) {
//			q.AddObject(e)
//		}
//	})()
//	q.Run(ctx, workers)
package controller
