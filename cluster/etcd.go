package cluster

import (
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startEmbeddedEtcd starts a single-member etcd keeping its data in dir.
func startEmbeddedEtcd(dir, clientAddr, peerAddr string) (*embed.Etcd, error) {
	cu, err := url.Parse("http://" + clientAddr)
	if err != nil {
		return nil, fmt.Errorf("etcd client address %q: %w", clientAddr, err)
	}
	pu, err := url.Parse("http://" + peerAddr)
	if err != nil {
		return nil, fmt.Errorf("etcd peer address %q: %w", peerAddr, err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "shoal"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	// One member elects itself fast with short ticks; start-up is then well
	// under a second.
	cfg.TickMs, cfg.ElectionMs = 50, 500
	// Compact history as the Kubernetes API server does (every 5 minutes),
	// so a long-running cluster does not grow without bound.
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = "periodic", "5m"
	// Progress notifications let watchers (and watch bookmarks) advance
	// while nothing changes.
	cfg.WatchProgressNotifyInterval = 10 * time.Second
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd was not ready within 60s")
	}
}

// newEtcdClient is the process's one etcd client.
func newEtcdClient(endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		// Fail fast on a dead member and try another.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return c, nil
}
