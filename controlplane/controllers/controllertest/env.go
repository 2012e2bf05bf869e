// Package controllertest runs Shoal's controllers in tests against a
// registry on a real embedded etcd, with what their tests share: objects to
// create, the writes a user or a node agent would make, reads from etcd,
// and Eventually.
package controllertest

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// Env is a registry on a real embedded etcd, the test's own caches (for
// watchers, and for controllers built from Deps) and a running event
// recorder. Everything it starts stops when the test ends.
type Env struct {
	T        *testing.T
	Ctx      context.Context
	Etcd     *storetest.Etcd
	Reg      *registry.Registry
	Caches   *store.Caches
	Recorder *controller.Recorder
	// Log discards, unless SHOAL_TEST_LOG is set: then it writes debug
	// logs to stderr.
	Log *slog.Logger

	podIP atomic.Int32 // the last pod address MarkReady handed out
}

// New starts an Env.
func New(t *testing.T) *Env {
	t.Helper()
	etcd := storetest.StartEtcd(t)
	reg := registrytest.New(t, etcd.Client(t), "")
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	caches := store.NewCaches(reg.Store, nil)
	caches.Start(ctx)
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rec := controller.NewRecorder(reg, "controller-manager", log)
	go rec.Run(ctx)
	return &Env{T: t, Ctx: ctx, Etcd: etcd, Reg: reg, Caches: caches, Recorder: rec, Log: log}
}

// Deps builds controllers on the Env's own caches.
func (e *Env) Deps() controller.Deps {
	return controller.Deps{Registry: e.Reg, Caches: e.Caches, Events: e.Recorder, Log: e.Log}
}

// Start runs the controllers build returns, built on caches of their own
// as a newly elected leader's would be; stop cancels them and waits until
// they have returned, so that a test can start others in their place.
func (e *Env) Start(build func(controller.Deps) []controller.Controller) (stop func()) {
	ctx, cancel := context.WithCancel(e.Ctx)
	caches := store.NewCaches(e.Reg.Store, nil)
	caches.Start(ctx)
	d := controller.Deps{Registry: e.Reg, Caches: caches, Events: e.Recorder, Log: e.Log}
	controllers := build(d)
	done := make(chan struct{})
	go func() {
		controller.Run(ctx, controllers...)
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	e.T.Cleanup(stop)
	return stop
}
