package apiserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/shoalmesh/shoal/controlplane/dashboard"
)

// newDashboard makes the dashboard served at /ui/, when the server has
// caches to show (every real API server; not handler tests without them).
// It authenticates and authorizes as the API does.
func (s *Server) newDashboard(cfg Config) *dashboard.Dashboard {
	if cfg.Caches == nil {
		return nil
	}
	return dashboard.New(dashboard.Config{
		Caches: cfg.Caches, Etcd: s.store.Client(), Authenticate: s.authenticate, Authorizer: s.authz,
		Metrics: cfg.Metrics, Log: s.log,
	})
}

// serveDashboard serves the dashboard's paths and reports whether r was
// one. The dashboard authenticates on its own: its page is public, its
// data is not.
func (s *Server) serveDashboard(w http.ResponseWriter, r *http.Request) bool {
	if s.dashboard == nil || !dashboard.Owns(r.URL.Path) {
		return false
	}
	s.dashboard.ServeHTTP(w, r)
	return true
}

// runDashboard feeds the dashboard until ctx ends or the returned stop is
// called, which waits for it.
func (s *Server) runDashboard(ctx context.Context) (stop func()) {
	if s.dashboard == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.dashboard.Run(ctx) }()
	return func() { cancel(); <-done }
}

// DashboardLoginLink is a one-time link that logs a browser into this API
// server's dashboard as token's user (apiURL is this server's https URL).
func (s *Server) DashboardLoginLink(apiURL, token string) (string, error) {
	if s.dashboard == nil {
		return "", errNoDashboard
	}
	return s.dashboard.LoginLink(apiURL, token)
}

var errNoDashboard = errors.New("this API server serves no dashboard: it has no caches")
