// Package benchenv sets up what Shoal's benchmark programs share: an
// embedded etcd in a temp dir, one client of it, and a bootstrapped registry
// with running caches, torn down by Close.
package benchenv

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// Env is one benchmark's etcd and, after StartRegistry, its registry.
type Env struct {
	Dir      string
	Etcd     *embed.Etcd
	URL      string // the etcd client URL
	Client   *clientv3.Client
	Registry *registry.Registry
	Caches   *store.Caches
}

// Start starts an embedded etcd in a new temp dir under parent ("" for the
// system's), named after prefix.
func Start(parent, prefix string) (*Env, error) {
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir}
	if e.Etcd, err = storetest.Start(storetest.Config(dir, "", "")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e.URL = "http://" + e.Etcd.Clients[0].Addr().String()
	e.Client, err = clientv3.New(clientv3.Config{Endpoints: []string{e.URL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return e, nil
}

// StartRegistry builds a bootstrapped registry over the etcd and starts its
// caches until ctx ends.
func (e *Env) StartRegistry(ctx context.Context) error {
	ips, err := registry.NewIPAllocator(e.Client, "10.96.0.0/16")
	if err != nil {
		return err
	}
	e.Registry = registry.New(store.New(e.Client), ips, nil)
	if err := e.Registry.Bootstrap(ctx); err != nil {
		return fmt.Errorf("bootstrap registry: %w", err)
	}
	e.Caches = store.NewCaches(e.Registry.Store, nil)
	e.Caches.Start(ctx)
	e.Registry.Namespaces = e.Caches.For(registry.Namespaces.Resource)
	return nil
}

// Close stops etcd and removes its directory.
func (e *Env) Close() {
	if e.Client != nil {
		e.Client.Close()
	}
	if e.Etcd != nil {
		e.Etcd.Close()
	}
	os.RemoveAll(e.Dir)
}
