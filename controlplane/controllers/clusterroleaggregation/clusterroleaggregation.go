// Package clusterroleaggregation keeps the rules of aggregated ClusterRoles
// (admin, edit, view, and any with an aggregationRule) equal to the union
// of the rules of the ClusterRoles their selectors pick, as Kubernetes'
// clusterrole aggregation controller does (see Controller).
package clusterroleaggregation

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/rbac"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Controller fills each aggregated ClusterRole's rules from the
// ClusterRoles labelled for it: a ClusterRole labelled
// rbac.authorization.k8s.io/aggregate-to-view=true adds its rules to view
// (and so to edit and admin, which aggregate view and edit). Like
// Kubernetes', it does not know which role picks which, so any ClusterRole
// change queues every aggregated role; there are few.
type Controller struct {
	deps controller.Deps
	log  *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// syncTimeout bounds one reconcile: its write and the wait for the cache
// to show it.
const syncTimeout = 30 * time.Second

// New returns the controller; Run starts it.
func New(d controller.Deps) *Controller {
	return &Controller{deps: d, log: d.Logger()}
}

// Name implements controller.Controller.
func (c *Controller) Name() string { return "clusterrole-aggregation" }

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context) {
	roles := c.deps.Caches.For(registry.ClusterRoles.Resource)
	if err := roles.WaitSynced(ctx); err != nil {
		return
	}
	sync := func(ctx context.Context, key string) error {
		ctx, cancel := context.WithTimeout(ctx, syncTimeout)
		defer cancel()
		_, name := controller.SplitKey(key)
		o, ok := roles.Get("", name)
		if !ok {
			return nil
		}
		all := clusterRoles(roles)
		written, err := rbac.Aggregate(ctx, c.deps.Registry, o.(*rbacv1.ClusterRole), all)
		if err != nil || written == nil {
			return err // a Conflict is retried, from a newer cache
		}
		c.log.Info("aggregated clusterrole", "clusterrole", name, "rules", len(written.(*rbacv1.ClusterRole).Rules))
		rev, _ := strconv.ParseInt(written.GetResourceVersion(), 10, 64)
		return roles.WaitForRevision(ctx, rev)
	}
	q := controller.NewQueue(c.Name(), c.log, sync)
	defer roles.Subscribe(func(e store.Event) {
		if !controller.IsChange(e) {
			return
		}
		for _, r := range clusterRoles(roles) {
			if r.AggregationRule != nil {
				q.Add(controller.Key(r))
			}
		}
	})()
	q.Run(ctx, 1)
}

func clusterRoles(c *store.Cache) []*rbacv1.ClusterRole {
	objs := c.List("", store.Predicate{})
	out := make([]*rbacv1.ClusterRole, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*rbacv1.ClusterRole))
	}
	return out
}
