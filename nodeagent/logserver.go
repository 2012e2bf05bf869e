package nodeagent

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/nodeagent/podlog"
)

// logHandler serves, like the kubelet on its port 10250:
//
//	GET /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&timestamps=
//	    &tailLines=&limitBytes=&sinceSeconds=&sinceTime=
//	GET /healthz
//	GET /metrics
//
// Container logs need "Authorization: Bearer <the node's token>": the API
// server proxies pods/log here with the node's own token, having checked
// the caller's rights itself. /healthz and /metrics are open (they name no
// pod).
func (a *Agent) logHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.serveHealthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.authorized(a.serveContainerLogs))
	return mux
}

func (a *Agent) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok || a.token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(a.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal-nodeagent"`)
			http.Error(w, "Unauthorized: the node's bearer token is required", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// bearer parses "Bearer <token>" (the scheme in any case).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "bearer") && token != ""
}

// serveHealthz is healthy once the agent runs and while its Lease renewals
// succeed.
func (a *Agent) serveHealthz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-a.ready:
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	if last := a.lease.renewed(); time.Since(last) > 3*api.LoadInterval {
		http.Error(w, fmt.Sprintf("the node's lease was last renewed %s ago", time.Since(last).Round(time.Second)), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok"))
}

func (a *Agent) serveContainerLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := logOptions(r.URL.Query(), time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := &logWriter{w: w, flush: opts.Follow}
	err = a.Logs(r.Context(), ns, name, container, opts, out)
	switch {
	case err == nil || out.wrote:
		// Once output started, an error can only end the stream.
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// logOptions reads kubelet's (and PodLogOptions') query parameters.
func logOptions(q url.Values, now time.Time) (podlog.LogOptions, error) {
	var o podlog.LogOptions
	var err error
	flag := func(name string) bool {
		v := q.Get(name)
		if v == "" || err != nil {
			return false
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			err = fmt.Errorf("%s=%q: not a boolean", name, v)
		}
		return b
	}
	num := func(name string, lowest int64) *int64 {
		v := q.Get(name)
		if v == "" || err != nil {
			return nil
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < lowest {
			err = fmt.Errorf("%s=%q: must be an integer of at least %d", name, v, lowest)
			return nil
		}
		return &n
	}
	o.Follow, o.Previous, o.Timestamps = flag("follow"), flag("previous"), flag("timestamps")
	o.TailLines = num("tailLines", 0)
	o.LimitBytes = num("limitBytes", 1)
	if s := num("sinceSeconds", 1); s != nil {
		o.SinceTime = now.Add(-time.Duration(*s) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" && err == nil {
		t, perr := time.Parse(time.RFC3339, v)
		if perr != nil {
			return o, fmt.Errorf("sinceTime=%q: not an RFC 3339 time", v)
		}
		if !o.SinceTime.IsZero() {
			return o, errors.New("at most one of sinceSeconds or sinceTime may be given")
		}
		o.SinceTime = t
	}
	return o, err
}

// logWriter streams logs: it flushes every write when following, and
// remembers whether anything was written (after which no error status can
// be sent).
type logWriter struct {
	w     http.ResponseWriter
	flush bool
	wrote bool
}

func (l *logWriter) Write(p []byte) (int, error) {
	if !l.wrote {
		l.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		l.wrote = true
	}
	n, err := l.w.Write(p)
	if err == nil && l.flush {
		err = http.NewResponseController(l.w).Flush()
	}
	return n, err
}
