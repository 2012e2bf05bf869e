package controller

import (
	"context"
	"log/slog"
	"sync"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Controller is one control loop.
type Controller interface {
	Name() string
	// Run reconciles until ctx ends. It waits for its caches to sync first.
	Run(ctx context.Context)
}

// Deps is what every controller is built from.
type Deps struct {
	Registry *registry.Registry
	Caches   *store.Caches
	Events   *Recorder
	Log      *slog.Logger
	// RootCA is the cluster CA (PEM) the root CA publisher puts in every
	// namespace.
	RootCA []byte
}

// Logger is d.Log, or a discarding logger when there is none.
func (d Deps) Logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Run runs controllers until ctx ends and all of them have returned.
func Run(ctx context.Context, controllers ...Controller) {
	var wg sync.WaitGroup
	for _, c := range controllers {
		wg.Go(func() { c.Run(ctx) })
	}
	wg.Wait()
}
