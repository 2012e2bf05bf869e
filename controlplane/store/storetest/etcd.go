// Package storetest starts a real, embedded etcd for tests: one way for every
// package's tests to get a store, as CoreDNS's dnstest is one way to get a DNS
// server.
package storetest

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Etcd is an embedded etcd member serving on loopback.
type Etcd struct {
	Dir       string
	ClientURL string
	PeerURL   string
	server    *embed.Etcd
}

// StartEtcd starts an embedded etcd in a temp dir and stops it when the test
// ends. Its client URL stays the same across Restart, so a client reconnects.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	e := &Etcd{Dir: t.TempDir()}
	if err := e.start(""); err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(e.Stop)
	return e
}

// Client returns a client of e, closed when the test ends.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{e.ClientURL},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Stop stops the member; its data stays in Dir.
func (e *Etcd) Stop() {
	if e.server != nil {
		e.server.Close()
		e.server = nil
	}
}

// Restart stops the member and starts it again on the same data and URLs.
func (e *Etcd) Restart(t testing.TB) {
	t.Helper()
	e.Stop()
	if err := e.start(e.ClientURL); err != nil {
		t.Fatalf("restart embedded etcd: %v", err)
	}
}

func (e *Etcd) start(clientURL string) error {
	srv, err := Start(Config(e.Dir, clientURL, e.PeerURL))
	if err != nil {
		return err
	}
	e.server = srv
	// On port 0 etcd advertises :0; the listener knows the real port.
	e.ClientURL = "http://" + srv.Clients[0].Addr().String()
	e.PeerURL = "http://" + srv.Peers[0].Addr().String()
	return nil
}

// Config is an embedded etcd configuration tuned for tests: fast elections,
// loopback only, quiet logs. Empty URLs mean a free port.
func Config(dir, clientURL, peerURL string) *embed.Config {
	if clientURL == "" {
		clientURL = "http://127.0.0.1:0"
	}
	if peerURL == "" {
		peerURL = "http://127.0.0.1:0"
	}
	cu, _ := url.Parse(clientURL)
	pu, _ := url.Parse(peerURL)
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	return cfg
}

// Start starts an embedded etcd and waits until it serves; it is for
// benchmarks and tools that have no testing.TB.
func Start(cfg *embed.Config) (*embed.Etcd, error) {
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-srv.Server.ReadyNotify():
		return srv, nil
	case err := <-srv.Err():
		srv.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(30 * time.Second):
		srv.Close()
		return nil, errors.New("embedded etcd was not ready within 30s")
	}
}
