package controllers

import (
	"context"
	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/controlplane/controller"
)

// electionPrefix is the etcd election every control-plane replica campaigns
// in; the winner runs the controllers. The scheduler has an election of its
// own (see package scheduler).
const electionPrefix = "/shoal/leader/controllers"

// RunElected campaigns for leadership of the controllers with id and, while
// leader, runs every controller; it steps down when its etcd session ends
// (the leader is cut off or dies) and campaigns again, until ctx ends.
func RunElected(ctx context.Context, client *clientv3.Client, id string, log *slog.Logger, controllers ...controller.Controller) {
	controller.RunElection(ctx, client, electionPrefix, id, log, controllers...)
}

// Leader returns the id of the controllers' current leader, or "" if there
// is none.
func Leader(ctx context.Context, client *clientv3.Client) (string, error) {
	return controller.LeaderOf(ctx, client, electionPrefix)
}
