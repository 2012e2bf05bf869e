package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// writeTimeout bounds each write to a viewer, so one that stopped reading
// does not hold its stream open; reauthEvery is how often a stream checks
// that its token (or session) still authenticates.
const (
	writeTimeout = 10 * time.Second
	reauthEvery  = 30 * time.Second
)

// serveStream sends the viewer the dashboard's data as server-sent events
// until it goes, its credentials stop working, it may see nothing any more,
// or the server stops: event "state" (a message), and a last event "end"
// ({"reason": "unauthorized" | "forbidden"}) when the stream is ended for
// the viewer's sake.
func (d *Dashboard) serveStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "the stream is read with GET")
		return
	}
	u, ok := d.viewer(w, r)
	if !ok {
		return
	}
	snap, changed := d.hub.current()
	for snap.gen == 0 { // the server has just started: wait for the first view
		select {
		case <-r.Context().Done():
			return
		case <-d.stopped:
			writeError(w, http.StatusServiceUnavailable, "the API server is stopping")
			return
		case <-changed:
		}
		snap, changed = d.hub.current()
	}
	rts := d.rightsOf(u, snap.namespaces)
	if !rts.any() {
		writeError(w, http.StatusForbidden, fmt.Sprintf("user %q may list none of nodes, services, deployments and events", u.Name))
		return
	}
	select {
	case d.streams <- struct{}{}:
		defer func() { <-d.streams }()
	default:
		writeError(w, http.StatusServiceUnavailable, "too many dashboard streams on this API server")
		return
	}
	d.metrics.streams.Inc()
	defer d.metrics.streams.Dec()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	view := newViewState(u.Name)
	reauth := time.Now().Add(reauthEvery)
	for {
		var err error
		if time.Now().After(reauth) {
			reauth = time.Now().Add(reauthEvery)
			if u, ok = d.authenticate(r); !ok {
				d.sendEnd(rc, w, "unauthorized")
				return
			}
		}
		if rts = d.rightsOf(u, snap.namespaces); !rts.any() {
			d.sendEnd(rc, w, "forbidden")
			return
		}
		if err = send(rc, w, "state", view.next(snap, rts)); err != nil {
			if r.Context().Err() == nil {
				d.metrics.errors.WithLabelValues(handlerStream).Inc()
				d.log.Debug("dashboard stream write failed", "user", u.Name, "err", err)
			}
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-d.stopped:
			return
		case <-changed:
		}
		snap, changed = d.hub.current()
	}
}

func (d *Dashboard) sendEnd(rc *http.ResponseController, w http.ResponseWriter, reason string) {
	send(rc, w, "end", map[string]string{"reason": reason})
}

// send writes one server-sent event and flushes it. JSON holds no
// newline, so the data is one line.
func send(rc *http.ResponseController, w http.ResponseWriter, event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	buf := make([]byte, 0, len(b)+len(event)+16)
	buf = append(buf, "event: "...)
	buf = append(buf, event...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, b...)
	buf = append(buf, "\n\n"...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	return rc.Flush()
}
