package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Pods is what the server needs of the agent: its pods, by name.
type Pods interface {
	// Container resolves a pod bound to this node and one of its
	// containers ("" = the only/default one) to the CRI container ID;
	// errors wrap ErrNotFound.
	Container(namespace, pod, container string) (id string, err error)
	// Sandbox resolves a pod to its CRI sandbox ID (for port-forward).
	Sandbox(namespace, pod string) (id string, err error)
	// Logs writes a container's log per opts (follow, previous,
	// timestamps, since, tail, limitBytes) — from the CRI log files.
	Logs(ctx context.Context, namespace, pod, container string, opts LogOptions, w io.Writer) error
}

// LogOptions are the kubelet's (and PodLogOptions') log parameters.
type LogOptions struct {
	// Follow keeps writing what a running container logs until it exits
	// or the caller goes away.
	Follow bool
	// Previous reads the instance before the last one (before a restart).
	Previous bool
	// Timestamps prefixes each line with its RFC 3339 time.
	Timestamps bool
	// SinceTime keeps only lines logged at or after it; zero keeps all.
	SinceTime time.Time
	// TailLines keeps only the last lines of what is logged so far.
	TailLines *int64
	// LimitBytes stops after this many bytes.
	LimitBytes *int64
}

// Streamer is the part of a CRI runtime client the server uses
// (k8s.io/cri-api's RuntimeService has it).
type Streamer interface {
	Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error)
	Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error)
	PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error)
}

// Config is what New needs. NodeName, Pods and TLS are required.
type Config struct {
	// NodeName names the node in errors and logs.
	NodeName string
	Pods     Pods
	// Runtime streams exec, attach and port-forward; nil answers them 501
	// (a runtime without streaming).
	Runtime Streamer
	// Dial connects to the runtime's streaming URLs; nil dials from this
	// process's network namespace (set it when the runtime listens in
	// another).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS is the serving key pair and the CA whose client certificates
	// are checked.
	TLS *Certificate
	// Metrics is served on /metrics and receives the server's own
	// metrics; nil: a registry of its own.
	Metrics *prometheus.Registry
	// Healthz reports the agent's health on /healthz (nil error: 200);
	// nil: always healthy.
	Healthz func() error
	Logger  *slog.Logger
}

// Server is a node agent's HTTPS server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	handler http.Handler
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.NodeName == "":
		return nil, fmt.Errorf("%w: a node name is required", ErrInvalidConfig)
	case cfg.Pods == nil:
		return nil, fmt.Errorf("%w: Pods is required", ErrInvalidConfig)
	case cfg.TLS == nil || cfg.TLS.ClientCA == nil || len(cfg.TLS.Pair.Certificate) == 0:
		return nil, fmt.Errorf("%w: a serving certificate and the client CA are required", ErrInvalidConfig)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("node server metrics: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "nodeserver", "node", cfg.NodeName), metrics: m}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.serveHealthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{}))
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		mux.Handle(m+" /exec/{namespace}/{pod}/{container}", s.authorized(kindExec, s.serveExec))
		mux.Handle(m+" /attach/{namespace}/{pod}/{container}", s.authorized(kindAttach, s.serveAttach))
		mux.Handle(m+" /portForward/{namespace}/{pod}", s.authorized(kindPortForward, s.servePortForward))
	}
	mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.authorized(kindLogs, s.serveContainerLogs))
	return mux
}

// ServeHTTP serves one request (for tests; Serve adds TLS).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// TLSConfig is the server's TLS configuration: the serving certificate,
// and client certificates requested but checked per request (authorized),
// so that /healthz and /metrics stay open and a wrong certificate gets a
// 401 rather than a failed handshake. HTTP/1.1 only: upgraded streams
// need it.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.cfg.TLS.Pair},
		ClientAuth:   tls.RequestClientCert,
		NextProtos:   []string{"http/1.1"},
	}
}

// Serve serves HTTPS on ln until ctx ends, then closes ln and every
// connection (streams included: the agent is going away).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	tl := &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(tl, hs.TLSConfig)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("node server: %w", err)
	case <-ctx.Done():
	}
	hs.Close()
	tl.closeAll() // upgraded streams, which hs.Close leaves open
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("node server: %w", err)
	}
	return nil
}

func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Healthz != nil {
		if err := s.cfg.Healthz(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ok"))
}

// trackingListener remembers its open connections so that Serve can close
// the hijacked ones (exec, attach, port-forward) when it stops.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
