package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

func (s *Server) serveContainerLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := ParseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := &logWriter{w: w, flush: opts.Follow}
	err = s.cfg.Pods.Logs(r.Context(), ns, pod, container, opts, out)
	switch {
	case err == nil || out.wrote:
		// Once output started, an error can only end the stream.
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// ParseLogOptions reads the kubelet's (and PodLogOptions') log parameters:
// follow, previous, timestamps, tailLines, limitBytes, sinceSeconds and
// sinceTime (at most one of the last two). now anchors sinceSeconds.
func ParseLogOptions(q url.Values, now time.Time) (LogOptions, error) {
	var o LogOptions
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
