package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/controlplane/servers"
)

// startEmbedded starts this server's etcd member — joining cfg.Join's
// cluster first if the data dir has no member yet — and its client.
func startEmbedded(ctx context.Context, cfg Config, ip netip.Addr, cleanup *stack) (etcdConn, error) {
	name, err := serverName(cfg)
	if err != nil {
		return etcdConn{}, err
	}
	joined := false
	p, err := planMember(cfg, ip, name)
	if err != nil {
		return etcdConn{}, err
	}
	switch {
	case cfg.Join == "" && cfg.Token != "":
		return etcdConn{}, errors.New("--token is the server token of the cluster --join names; give --join too")
	case cfg.Join != "" && cfg.Token == "":
		return etcdConn{}, errors.New("--join needs --token, the cluster's server token (the first server prints it)")
	case cfg.Join != "":
		tok, err := servers.ParseToken(cfg.Token)
		if err != nil {
			return etcdConn{}, fmt.Errorf("--token: %w", err)
		}
		// A data dir of another cluster (its own etcd data, its CA) is
		// refused before anything is asked of this one.
		if err := checkOwnCA(cfg.DataDir, tok); err != nil {
			return etcdConn{}, err
		}
		if p.hasData() {
			cfg.Log.Info("this server is a member already: restarting it (--join is not needed again)", "dir", p.dir)
			break
		}
		if err := joinCluster(ctx, cfg, tok, &p); err != nil {
			return etcdConn{}, err
		}
		joined = true
	}
	if p.files, err = pki.LoadOrCreateEtcd(filepath.Join(cfg.DataDir, "pki"), p.hosts()); err != nil {
		return etcdConn{}, fmt.Errorf("certificates: %w", err)
	}
	left := &atomic.Bool{}
	cleanup.push(func() {
		if left.Load() {
			os.RemoveAll(p.dir) // once the member has stopped
		}
	})
	e, err := startMember(ctx, p, cfg.Log)
	if err != nil {
		if joined {
			// Joined but never served: the member stays unstarted (a learner,
			// not in the quorum), and the next --join on this data dir
			// finds it by its peer URL and takes it over.
			os.RemoveAll(p.dir)
		}
		return etcdConn{}, err
	}
	cleanup.push(func() { p.close(e) })
	endpoint := localClientURL(e)
	tc, err := pki.ClientTLS(p.files.CA, p.files.ClientCert, p.files.ClientKey)
	if err != nil {
		return etcdConn{}, err
	}
	client, err := newEtcdClient([]string{endpoint}, tc)
	if err != nil {
		return etcdConn{}, err
	}
	cleanup.push(func() { client.Close() })
	conn := etcdConn{client: client, endpoints: []string{endpoint}, member: e, plan: p, serving: &atomic.Bool{}}
	if joined {
		// A server that joined now and then fails to start (keys that are
		// not the cluster's, say) leaves the cluster again, rather than stay
		// a voting member that never serves.
		cleanup.push(func() {
			if !conn.serving.Load() {
				left.Store(conn.leave(cfg.Log))
			}
		})
	}
	if err := updatePeerURL(ctx, client, e, p); err != nil {
		return etcdConn{}, err
	}
	cfg.Log.Info("embedded etcd ready", "name", p.name, "client_url", endpoint, "peer_url", p.peerURL(), "dir", p.dir)
	return conn, nil
}

// leave removes this server's member from the cluster; the caller then
// deletes its etcd data.
func (c etcdConn) leave(log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := uint64(c.member.Server.MemberID())
	for {
		_, err := c.client.MemberRemove(ctx, id)
		// The member stops as soon as it applies its own removal, maybe
		// before it answers.
		if err == nil || errors.Is(err, rpctypes.ErrStopped) || c.plan.removed.Load() {
			log.Info("left the cluster after a failed start", "name", c.plan.name)
			return true
		}
		// etcd refuses while this member has been connected to the others
		// for less than 5 s ("unhealthy cluster"): wait for it.
		if !errors.Is(err, rpctypes.ErrUnhealthy) || ctx.Err() != nil {
			log.Error("could not leave the cluster after a failed start: remove this server with `shoal server remove`", "name", c.plan.name, "err", err)
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// connectExternal makes the client of an external etcd.
func connectExternal(cfg Config, cleanup *stack) (etcdConn, error) {
	tc, err := externalTLS(cfg)
	if err != nil {
		return etcdConn{}, err
	}
	if cfg.Join != "" || cfg.Token != "" {
		return etcdConn{}, fmt.Errorf("--join and --token join an embedded etcd cluster; with --etcd-servers (%s), start more servers on that etcd instead", strings.Join(cfg.EtcdServers, ","))
	}
	client, err := newEtcdClient(cfg.EtcdServers, tc)
	if err != nil {
		return etcdConn{}, err
	}
	cleanup.push(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Get(ctx, "/registry/health"); err != nil {
		return etcdConn{}, fmt.Errorf("etcd %s does not answer: %w (an https etcd needs --etcd-cafile, and --etcd-certfile and --etcd-keyfile if it asks for a client certificate)",
			strings.Join(cfg.EtcdServers, ","), err)
	}
	return etcdConn{client: client, endpoints: cfg.EtcdServers}, nil
}

// watchMember stops the instance if its etcd member stops on its own (it
// was removed from the cluster); Wait then says why.
func (in *Instance) watchMember(ctx context.Context, shutdown func(), e *embed.Etcd, p memberPlan) {
	prev := in.done
	stopped := make(chan error, 1)
	go func() {
		select {
		case <-e.Server.StopNotify():
			if ctx.Err() == nil {
				stopped <- memberStopped(e, p)
				shutdown()
			}
		case <-ctx.Done():
		}
		close(stopped)
	}()
	done := make(chan error, 1)
	go func() {
		err := <-prev
		if e := <-stopped; e != nil {
			err = e
		}
		done <- err
	}()
	in.done = done
}
