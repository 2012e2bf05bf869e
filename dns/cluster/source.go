package cluster

import (
	"log/slog"
	"sync"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Feed is one resource's stream of changes, as a store.Cache gives it: an
// Added event for every object first, then every change in order, and a
// channel closed once the first full list has been delivered.
type Feed interface {
	Subscribe(store.Handler) (unsubscribe func())
	Synced() <-chan struct{}
}

// Feeds are the resources the plugin reads. EndpointSlices is nil with
// `noendpoints`, Pods is nil unless `pods verified`.
type Feeds struct {
	Services, EndpointSlices, Namespaces, Pods Feed
}

// FeedsFrom returns the feeds cfg needs from cs.
func FeedsFrom(cs *store.Caches, cfg Config) Feeds {
	f := Feeds{
		Services:   cs.For(api.Services.Resource),
		Namespaces: cs.For(api.Namespaces.Resource),
	}
	if !cfg.NoEndpoints {
		f.EndpointSlices = cs.For(api.EndpointSlices.Resource)
	}
	if cfg.Pods == PodsVerified {
		f.Pods = cs.For(api.Pods.Resource)
	}
	return f
}

var shared struct {
	sync.Mutex
	caches *store.Caches
	log    *slog.Logger
}

// UseCaches makes cs the caches of every `cluster` block without an
// `endpoint`: shoal up calls it with the process's caches before it starts
// the DNS server, so DNS shares the API server's watches.
func UseCaches(cs *store.Caches) {
	shared.Lock()
	defer shared.Unlock()
	shared.caches = cs
}

// UseLogger sets the logger of plugins set up from now on (default: slog's
// default logger with component=dns, plugin=cluster).
func UseLogger(l *slog.Logger) {
	shared.Lock()
	defer shared.Unlock()
	shared.log = l
}

func sharedCaches() *store.Caches {
	shared.Lock()
	defer shared.Unlock()
	return shared.caches
}

func logger() *slog.Logger {
	shared.Lock()
	defer shared.Unlock()
	if shared.log == nil {
		return slog.Default().With("component", "dns", "plugin", "cluster")
	}
	return shared.log
}
