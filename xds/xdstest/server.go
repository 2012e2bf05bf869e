package xdstest

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/shoalmesh/shoal/xds/server"
	"github.com/shoalmesh/shoal/xds/translate"
)

// Server is a real Shoal xDS server (package server, no feed) on a
// loopback address, whose resources a test sets directly.
type Server struct {
	*server.Server
	// Addr is where it listens.
	Addr  string
	nacks chan string
	stop  func()
}

// StartServer serves on addr ("127.0.0.1:0" for any port; a fixed one to
// restart a server where its clients look for it) until Stop or the end of
// the test.
func StartServer(t testing.TB, addr string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nl := &nackLog{ch: make(chan string, 16)}
	s := server.New(ctx, server.Options{Logger: slog.New(nl)})
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	var once sync.Once
	x := &Server{Server: s, Addr: ln.Addr().String(), nacks: nl.ch}
	x.stop = func() { once.Do(func() { cancel(); s.Stop(100 * time.Millisecond); <-done }) }
	t.Cleanup(x.stop)
	return x
}

// Stop stops the server (its clients see their streams end).
func (x *Server) Stop() { x.stop() }

// Feed sets the server's resources to the outbound (Envoy and node proxy)
// translation of svcs, deleting what is no longer there.
func (x *Server) Feed(t testing.TB, svcs ...translate.Service) {
	t.Helper()
	res := translate.Translate(&translate.View{Services: svcs})
	stale := func(k server.Kind, items map[string]types.Resource) []string {
		var del []string
		for name := range x.Resources(k) {
			if _, ok := items[name]; !ok {
				del = append(del, name)
			}
		}
		return del
	}
	update := func(k server.Kind, items map[string]types.Resource, del []string) {
		if err := x.Update(k, items, del); err != nil {
			t.Fatal(err)
		}
	}
	ls, rs, cs, es := map[string]types.Resource{}, map[string]types.Resource{}, map[string]types.Resource{}, map[string]types.Resource{}
	for _, r := range res.Outbound {
		ls[r.Name] = r
	}
	for _, r := range res.Routes {
		rs[r.Name] = r
	}
	for _, r := range res.Clusters {
		cs[r.Name] = r
	}
	for _, r := range res.Endpoints {
		es[r.ClusterName] = r
	}
	// Make before break, as the feed does: clusters before the listeners
	// and routes that name them, which go before the clusters they named.
	update(server.Clusters, cs, nil)
	update(server.Endpoints, es, nil)
	update(server.OutboundListeners, ls, stale(server.OutboundListeners, ls))
	update(server.Routes, rs, stale(server.Routes, rs))
	update(server.Clusters, nil, stale(server.Clusters, cs))
	update(server.Endpoints, nil, stale(server.Endpoints, es))
}

// NACK waits up to 10 s for the server to log a NACK and returns its
// reason.
func (x *Server) NACK(t testing.TB) string {
	t.Helper()
	select {
	case r := <-x.nacks:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the xDS server saw no NACK in 10 s")
	}
	return ""
}

// nackLog collects the reasons of the NACKs a server logs.
type nackLog struct{ ch chan string }

func (h *nackLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *nackLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *nackLog) WithGroup(string) slog.Handler            { return h }
func (h *nackLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "client rejected configuration") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			select {
			case h.ch <- a.Value.String():
			default:
			}
		}
		return true
	})
	return nil
}
