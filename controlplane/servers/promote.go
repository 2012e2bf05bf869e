package servers

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// PromoteInterval is how often RunPromoter looks for learners.
const PromoteInterval = time.Second

// RunPromoter promotes every etcd learner (a joining server) to a voting
// member as soon as etcd says it has caught up with the leader, until ctx
// ends. Every server runs one; a promotion another server made first is
// harmless. A learner does not count towards the quorum, so a server that
// was added but never started cannot cost the cluster its quorum.
func RunPromoter(ctx context.Context, client *clientv3.Client, log *slog.Logger) {
	t := time.NewTicker(PromoteInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		promoteLearners(ctx, client, log)
	}
}

func promoteLearners(ctx context.Context, client *clientv3.Client, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	list, err := client.MemberList(ctx)
	if err != nil {
		return // no quorum, or stopping: nothing to promote now
	}
	for _, m := range list.Members {
		if !m.IsLearner || m.Name == "" {
			continue // unstarted: it cannot have caught up
		}
		_, err := client.MemberPromote(ctx, m.ID)
		switch {
		case err == nil:
			promotions.Inc()
			log.Info("server promoted to a voting etcd member", "name", m.Name, "member", strconv.FormatUint(m.ID, 16))
		case errors.Is(err, rpctypes.ErrMemberLearnerNotReady), errors.Is(err, rpctypes.ErrMemberNotLearner):
		default:
			log.Debug("promote etcd learner", "name", m.Name, "err", err)
		}
	}
}
