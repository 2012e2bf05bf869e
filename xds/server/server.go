package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
}

// Server serves xDS from per-kind caches that Update changes.
type Server struct {
	log    *slog.Logger
	caches [numKinds]*kindCache
	xds    serverv3.Server
	grpc   *grpc.Server
	health *health.Server
}

// New returns a server with empty caches. Register more services (LRS) on
// GRPC before Serve.
func New(ctx context.Context, opts Options) *Server {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("component", "xds")
	s := &Server{log: lg}
	for k := range numKinds {
		s.caches[k] = newKindCache(k.typeURL())
	}
	go s.sweep(ctx)
	// Ordered ADS: a stream's goroutine selects on one channel for every
	// type (and the cache keeps one watch per stream and kind, keyed by
	// it) rather than reflect.Select over a channel per type and request.
	s.xds = serverv3.NewServer(ctx, newMux(s.caches), newCallbacks(lg), sotw.WithOrderedADS())
	s.grpc = grpc.NewServer(
		// xDS streams live for the life of a client; keepalives find dead
		// peers (a SIGKILLed Envoy) without waiting for TCP to time out.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// Thousands of mostly idle streams: small per-connection buffers
		// (xDS messages are small) and a write buffer returned to a pool
		// after each flush keep memory per client low.
		grpc.ReadBufferSize(4<<10),
		grpc.WriteBufferSize(4<<10),
		grpc.SharedWriteBuffer(true),
		// Fixed flow-control windows: with dynamic ones grpc-go follows
		// every message a client sends (each ACK) with a BDP ping, one more
		// write and read per client and push. Large enough for a
		// subscription naming every resource.
		grpc.StaticStreamWindowSize(1<<20),
		grpc.StaticConnWindowSize(1<<20),
		// No HPACK dynamic table: a stream's headers come once in its
		// life, and the table would keep ~1 KB of them per connection.
		grpc.HeaderTableSize(0),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(s.grpc, s.xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(s.grpc, s.xds)
	routeservice.RegisterRouteDiscoveryServiceServer(s.grpc, s.xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(s.grpc, s.xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(s.grpc, s.xds)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	return s
}

// GRPC is the gRPC server, to register more services on before Serve.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Update sets and deletes resources of one kind. Clients watching them get
// the change; others get nothing.
func (s *Server) Update(k Kind, set map[string]types.Resource, del []string) error {
	if len(set) == 0 && len(del) == 0 {
		return nil
	}
	c := s.caches[k]
	if err := c.update(set, del); err != nil {
		return fmt.Errorf("update %s: %w", k, err)
	}
	resourcesGauge.WithLabelValues(k.String()).Set(float64(c.size()))
	return nil
}

// Resources returns the current resources of one kind (for tests and the
// debug dump).
func (s *Server) Resources(k Kind) map[string]types.Resource { return s.caches[k].resourcesCopy() }

// sweepEvery is how often the caches drop the watches of ended streams.
const sweepEvery = 10 * time.Second

func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, c := range s.caches {
				c.sweep()
			}
		}
	}
}

// SetServing marks the gRPC health service SERVING (once the registry has
// synced) or NOT_SERVING.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
}

// Serve serves on ln until Stop.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("serving xDS", "addr", ln.Addr().String())
	return s.grpc.Serve(ln)
}

// Stop ends every stream and the listener. xDS streams never finish on
// their own, so a graceful stop waits at most grace before cutting them;
// clients reconnect to another replica and keep their configuration
// meanwhile.
func (s *Server) Stop(grace time.Duration) {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.grpc.Stop()
		<-done
	}
}
