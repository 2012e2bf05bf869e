package dashboard

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Path is where the dashboard is served.
const Path = "/ui/"

// maxStreams bounds the open streams of one API server.
const maxStreams = 256

// Config is what a Dashboard reads and how it checks its viewers.
type Config struct {
	// Caches are the API server's shared caches.
	Caches *store.Caches
	// Etcd is read for the traffic the xDS replicas publish and the weights
	// their leader writes.
	Etcd *clientv3.Client
	// Authenticate returns the user of a request's bearer token, as the API
	// server authenticates it (static tokens, service account tokens).
	Authenticate func(*http.Request) (*auth.User, bool)
	// Authorizer is the API server's (RBAC).
	Authorizer Authorizer
	Metrics    prometheus.Registerer
	Log        *slog.Logger
}

// Dashboard serves the dashboard at Path. Run feeds it.
type Dashboard struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	hub     *hub
	logins  *logins
	streams chan struct{} // a slot per open stream
	// stopped is closed when Run returns, so that streams end.
	stopped chan struct{}
}

// New returns a Dashboard; it serves no data until Run runs.
func New(cfg Config) *Dashboard {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	d := &Dashboard{
		cfg: cfg, log: cfg.Log.With("component", "dashboard"), metrics: newMetrics(cfg.Metrics),
		logins: newLogins(), streams: make(chan struct{}, maxStreams), stopped: make(chan struct{}),
	}
	d.hub = newHub(cfg.Caches, cfg.Etcd, d.log, func(where string) { d.metrics.errors.WithLabelValues(where).Inc() })
	return d
}

// Run keeps the dashboard's view current until ctx ends; open streams end
// with it.
func (d *Dashboard) Run(ctx context.Context) {
	defer close(d.stopped)
	d.hub.run(ctx)
}

// Owns reports whether path is the dashboard's, for the API server's
// router: the dashboard authenticates its own requests.
func Owns(path string) bool {
	return path == strings.TrimSuffix(Path, "/") || strings.HasPrefix(path, Path)
}

// LoginLink is a one-time link to the dashboard at apiURL (the API
// server's https URL) that logs the browser in as token's user: the code
// is in the fragment, which browsers never send, so it is in no log.
func (d *Dashboard) LoginLink(apiURL, token string) (string, error) {
	code, err := d.logins.issue(token)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(apiURL, "/") + Path + "#login=" + code, nil
}

// ServeHTTP serves the page and its assets to anyone, and data only to an
// authenticated viewer, as far as the authorizer lets it.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	rw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
	handler := handlerStatic
	switch r.URL.Path {
	case Path + "api/stream":
		handler = handlerStream
		d.serveStream(rw, r)
	case Path + "api/history":
		handler = handlerHistory
		d.serveHistory(rw, r)
	case Path + "api/login":
		handler = handlerLogin
		d.serveLogin(rw, r)
	case Path + "api/logout":
		handler = handlerLogout
		d.serveLogout(rw, r)
	default:
		serveAsset(rw, r)
	}
	d.metrics.requests.WithLabelValues(handler, strconv.Itoa(rw.code)).Inc()
}

// apiError is a data request's error body.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

// unauthorized answers a data request without valid credentials.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
	writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
}

// viewer authenticates a data request and answers 401 if it cannot.
func (d *Dashboard) viewer(w http.ResponseWriter, r *http.Request) (*auth.User, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here")
		return nil, false
	}
	u, ok := d.authenticate(r)
	if !ok {
		unauthorized(w)
	}
	return u, ok
}

// codeWriter records the response code for metrics and keeps the
// ResponseController's Flush and SetWriteDeadline.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
