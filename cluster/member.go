package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/shoalmesh/shoal/controlplane/pki"
)

// startEmbedded starts this server's etcd member — joining cfg.Join's
// cluster first if the data dir has no member yet — and its client.
func startEmbedded(ctx context.Context, cfg Config, ip netip.Addr, cleanup *stack) (etcdConn, error) {
	name, err := serverName(cfg)
	if err != nil {
		return etcdConn{}, err
	}
	p, err := planMember(cfg, ip, name)
	if err != nil {
		return etcdConn{}, err
	}
	switch {
	case cfg.Join == "" && cfg.Token != "":
		return etcdConn{}, errors.New("--token is the server token of the cluster --join names; give --join too")
	case cfg.Join != "" && cfg.Token == "":
		return etcdConn{}, errors.New("--join needs --token, the cluster's server token (the first server prints it)")
	case cfg.Join != "" && p.hasData():
		cfg.Log.Info("this server is a member already: restarting it (--join is not needed again)", "dir", p.dir)
	case cfg.Join != "":
		if err := joinCluster(ctx, cfg, &p); err != nil {
			return etcdConn{}, err
		}
	}
	if p.files, err = pki.LoadOrCreateEtcd(filepath.Join(cfg.DataDir, "pki"), p.hosts()); err != nil {
		return etcdConn{}, fmt.Errorf("certificates: %w", err)
	}
	e, err := startMember(ctx, p, cfg.Log)
	if err != nil {
		return etcdConn{}, err
	}
	cleanup.push(e.Close)
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
	if err := updatePeerURL(ctx, client, e, p); err != nil {
		return etcdConn{}, err
	}
	cfg.Log.Info("embedded etcd ready", "name", p.name, "client_url", endpoint, "peer_url", p.peerURL(), "dir", p.dir)
	return etcdConn{client: client, endpoints: []string{endpoint}, member: e, plan: p}, nil
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
	return etcdConn{client: client, endpoints: cfg.EtcdServers}, nil
}

// watchMember stops the instance if its etcd member stops on its own (it
// was removed from the cluster); Wait then says why.
func (in *Instance) watchMember(ctx context.Context, shutdown func(), e *embed.Etcd, dir string) {
	prev := in.done
	stopped := make(chan error, 1)
	go func() {
		select {
		case <-e.Server.StopNotify():
			if ctx.Err() == nil {
				stopped <- memberStopped(e, dir)
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
