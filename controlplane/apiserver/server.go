package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/controlplane/rbac"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/serviceaccount"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// DefaultMaxBodyBytes bounds a request body: 3 MiB, kube-apiserver's
// limit, so that a Secret or ConfigMap of up to 1 MiB of data fits once
// base64-encoded and one over it gets validation's "Too long" instead of a
// bare 413. Validation bounds most objects far lower; etcd refuses values
// over 1.5 MiB, which the store answers with 413 too.
const DefaultMaxBodyBytes = 3 << 20

// Config is what a Server needs.
type Config struct {
	Registry *registry.Registry
	Tokens   *auth.Tokens
	// RBAC authorizes what neither the Node authorizer nor system:masters
	// does; nil builds one on Caches (and with neither, only nodes and
	// system:masters are allowed anything).
	RBAC *rbac.Authorizer
	// TLS serves HTTPS; nil serves plain HTTP (tests of handlers only:
	// kubectl sends tokens over HTTPS only).
	TLS          *tls.Config
	Log          *slog.Logger
	Metrics      prometheus.Registerer
	Gatherer     prometheus.Gatherer
	MaxBodyBytes int64
	// Caches, if set, lets reads be served from the process's caches while
	// etcd is unreachable.
	Caches *store.Caches
	// TokenIssuer and TokenAuthenticator, if set, issue (serviceaccounts/token)
	// and accept service account tokens.
	TokenIssuer        *serviceaccount.Issuer
	TokenAuthenticator *serviceaccount.Authenticator
	// PKI, if set, signs node agents' serving certificates and its CA
	// verifies them; AgentClientCert is the client certificate shown to
	// agents (pki's AgentClientCert). Without both, pods/log, exec,
	// attach and port-forward answer 503.
	PKI             *pki.Bundle
	AgentClientCert *tls.Certificate
}

// Server is the Kubernetes API over HTTPS.
type Server struct {
	reg     *registry.Registry
	store   *store.Store
	tokens  *auth.Tokens
	authz   *auth.Authorizer
	rbac    *rbac.Authorizer // nil when there is none
	tls     *tls.Config
	log     *slog.Logger
	metrics *metrics
	gather  prometheus.Gatherer
	maxBody int64
	caches  *store.Caches
	// saIssuer and saAuthn issue and check service account tokens.
	saIssuer *serviceaccount.Issuer
	saAuthn  *serviceaccount.Authenticator
	// pki and agentCert reach node agents (agent.go).
	pki       *pki.Bundle
	agentCert *tls.Certificate

	// stopping closes when Serve's context ends, so open watches return and
	// the HTTP server can shut down.
	stopping chan struct{}
	stopOnce sync.Once
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	if cfg.Gatherer == nil {
		if g, ok := cfg.Metrics.(prometheus.Gatherer); ok {
			cfg.Gatherer = g
		}
	}
	if cfg.RBAC == nil && cfg.Caches != nil {
		cfg.RBAC = rbac.NewForCaches(cfg.Caches)
	}
	authz := &auth.Authorizer{}
	if cfg.RBAC != nil {
		authz.RBAC = cfg.RBAC
	}
	return &Server{
		reg: cfg.Registry, store: cfg.Registry.Store, tokens: cfg.Tokens, tls: cfg.TLS, authz: authz, rbac: cfg.RBAC,
		log: cfg.Log.With("component", "apiserver"), metrics: newMetrics(cfg.Metrics), gather: cfg.Gatherer,
		maxBody: cfg.MaxBodyBytes, caches: cfg.Caches, stopping: make(chan struct{}),
		saIssuer: cfg.TokenIssuer, saAuthn: cfg.TokenAuthenticator,
		pki: cfg.PKI, agentCert: cfg.AgentClientCert,
	}
}

// Serve serves on ln until ctx ends, then shuts down: watches end at once and
// other requests get a few seconds to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.tls != nil {
		hs.TLSConfig = s.tls
		ln = tls.NewListener(ln, s.tls)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.stopOnce.Do(func() { close(s.stopping) })
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeHTTP authenticates, authorizes and routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	ri, isResource := parseResourcePath(r)
	defer func() {
		s.metrics.observe(r, ri, rw.code, time.Since(start))
	}()

	switch r.URL.Path {
	case "/healthz", "/livez":
		rw.Write([]byte("ok"))
		return
	case "/readyz":
		s.serveReady(rw, r)
		return
	case "/version", "/version/":
		s.serveVersion(rw, r)
		return
	}
	user, ok := s.authenticate(r)
	if !ok {
		writeError(rw, apierrors.NewUnauthorized("Unauthorized: a valid bearer token is required"))
		return
	}
	user, err := s.impersonate(r, auth.Authenticated(user))
	if err != nil {
		writeError(rw, err)
		return
	}
	if r.URL.Path == api.NodeServingCertificatePath {
		// Authorized by what it signs: only a node's own names.
		s.serveNodeCertificate(rw, r, user)
		return
	}
	attrs := auth.Attributes{User: user, Verb: strings.ToLower(r.Method), NonResourcePath: r.URL.Path}
	if isResource {
		attrs = auth.Attributes{User: user, Verb: ri.Verb, Namespace: ri.Namespace, Resource: ri.Resource,
			Subresource: ri.Subresource, Name: ri.Name, APIGroup: ri.Group}
	}
	if err := s.authorize(attrs); err != nil {
		writeError(rw, err)
		return
	}
	if !isResource {
		s.serveNonResource(rw, r)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	if isReview(ri) {
		s.serveReview(rw, r, ri, user)
		return
	}
	if err := s.connectRestriction(user, ri); err != nil {
		writeError(rw, err)
		return
	}
	if err := s.nodeRestriction(r.Context(), user, ri); err != nil {
		writeError(rw, err)
		return
	}
	s.serveResource(rw, r, ri)
}

// authorize returns nil if a is allowed, else Kubernetes' 403, e.g.
// `pods is forbidden: User "jane" cannot list resource "pods" in API group
// "" in the namespace "default"`.
func (s *Server) authorize(a auth.Attributes) error {
	d := s.authz.Authorize(a)
	s.metrics.authorized(d)
	if d.Allowed {
		return nil
	}
	return apierrors.NewForbidden(schemaGroupResource{Group: a.APIGroup, Resource: a.Resource}, a.Name, errors.New(auth.Forbidden(a, d.Reason)))
}

func (s *Server) serveNonResource(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	switch {
	case r.URL.Path == "/metrics":
		promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, "/debug/pprof/"):
		// As the Kubernetes API server's --profiling (on by default), for
		// users allowed non-resource paths (admins).
		servePprof(w, r)
	case r.URL.Path == "/openapi/v2":
		s.serveOpenAPIV2(w, r)
	case len(parts) == 1 && parts[0] == "api":
		s.serveAPI(w, r)
	case len(parts) == 1 && parts[0] == "apis":
		s.serveAPIs(w, r)
	case len(parts) == 2 && parts[0] == "api":
		s.serveResources(w, r, "", parts[1])
	case len(parts) == 2 && parts[0] == "apis":
		s.serveGroup(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "apis":
		s.serveResources(w, r, parts[1], parts[2])
	default:
		writeError(w, apierrors.NewNotFound(schemaGroupResource{}, r.URL.Path))
	}
}

// serveReady reports ready when etcd answers.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.store.Client().Get(ctx, "/registry/health"); err != nil {
		http.Error(w, "etcd: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok"))
}

func (ri requestInfo) groupResource() schemaGroupResource {
	return schemaGroupResource{Group: ri.Group, Resource: ri.Resource}
}

// statusWriter records the response code for metrics and keeps Flush.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection to an upgraded stream (exec, attach,
// port-forward), counted as 101.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.code = http.StatusSwitchingProtocols
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
