package dashboard

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/shoalmesh/shoal/controlplane/auth"
)

// maxLoginBody bounds a login request's body.
const maxLoginBody = 4 << 10

// serveLogin trades a login link's code for a session token:
// POST {"code": "..."} → {"token": "shoal-ui.…"}. It takes JSON only, which
// a form on another site cannot send without the browser asking first (and
// this server answers no CORS preflight).
func (d *Dashboard) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "log in with POST")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "the login request must be application/json")
		return
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxLoginBody)).Decode(&req); err != nil || req.Code == "" {
		writeError(w, http.StatusBadRequest, `the login request must be {"code": "<the code of the login link>"}`)
		return
	}
	session, ok := d.logins.redeem(req.Code)
	if !ok {
		d.metrics.logins.WithLabelValues("refused").Inc()
		writeError(w, http.StatusUnauthorized, fmt.Sprintf("the login link is not valid: it was used already, or is older than %v, or was printed by another API server", CodeTTL))
		return
	}
	d.metrics.logins.WithLabelValues("ok").Inc()
	writeJSON(w, http.StatusOK, map[string]string{"token": session})
}

// serveLogout ends the session the request carries, if it is one.
func (d *Dashboard) serveLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "log out with POST")
		return
	}
	if _, ok := d.viewer(w, r); !ok {
		return
	}
	tok, _ := auth.BearerToken(r)
	if strings.HasPrefix(tok, sessionPrefix) {
		d.logins.end(tok)
	}
	w.WriteHeader(http.StatusNoContent)
}

// historyReply is a Service's endpoints' samples: per IP, [unix ms,
// weight, latency in seconds], oldest first, one per interval.
type historyReply struct {
	IntervalMillis int64              `json:"interval"`
	Series         map[string][]point `json:"series"`
}

// serveHistory answers GET ?service=<namespace>/<name> with the samples of
// its endpoints, to viewers who may list its namespace's endpointslices.
func (d *Dashboard) serveHistory(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "history is read with GET")
		return
	}
	u, ok := d.viewer(w, r)
	if !ok {
		return
	}
	key := r.URL.Query().Get("service")
	ns, name, ok := strings.Cut(key, "/")
	if !ok || ns == "" || name == "" {
		writeError(w, http.StatusBadRequest, "service must be <namespace>/<name>")
		return
	}
	snap, _ := d.hub.current()
	if !d.rightsOf(u, []string{ns}).endpoints.has(ns) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("user %q may not list endpointslices in namespace %q", u.Name, ns))
		return
	}
	ips, ok := snap.endpoints[key]
	if !ok {
		ips = []string{}
	}
	writeJSON(w, http.StatusOK, historyReply{IntervalMillis: Tick.Milliseconds(), Series: d.hub.history.series(ips)})
}
