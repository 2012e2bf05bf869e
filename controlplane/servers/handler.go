package servers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Paths the API server routes here. The first two are served before
// authentication (the join checks the server token itself); ServersPath
// after authentication and authorization, as a non-resource URL.
const (
	JoinPath    = "/shoal/v1/join"
	CAPath      = "/shoal/v1/join/ca"
	ServersPath = "/shoal/v1/servers"
)

// etcdTimeout bounds each membership call.
const etcdTimeout = 10 * time.Second

// Handler serves the join and the server list of one server.
type Handler struct {
	Token Token
	// CAPEM is the cluster CA certificate, which CAPath serves.
	CAPEM []byte
	// Etcd reaches this server's etcd cluster.
	Etcd *clientv3.Client
	// Files returns the files a joining server receives (read at each
	// join, so that it gets them as they are now).
	Files func() (map[string][]byte, error)
	Log   *slog.Logger
}

// Public are the handlers the API server serves without authentication.
func (h *Handler) Public() map[string]http.Handler {
	return map[string]http.Handler{
		CAPath:   http.HandlerFunc(h.serveCA),
		JoinPath: http.HandlerFunc(h.serveJoin),
	}
}

// Servers are the handlers the API server serves to authorized users: a
// key ending in "/" is a prefix.
func (h *Handler) Servers() map[string]http.Handler {
	return map[string]http.Handler{
		ServersPath:       http.HandlerFunc(h.serveList),
		ServersPath + "/": http.HandlerFunc(h.serveRemove),
	}
}

func (h *Handler) serveCA(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(h.CAPEM)
}

func (h *Handler) serveJoin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !h.Token.Matches(strings.TrimSpace(secret)) {
		joins.WithLabelValues("refused_token").Inc()
		h.Log.Warn("server join refused: not the server token", "remote", r.RemoteAddr)
		http.Error(w, ErrTokenRefused.Error(), http.StatusUnauthorized)
		return
	}
	var req JoinRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		joins.WithLabelValues("bad_request").Inc()
		http.Error(w, "join request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := req.validate(); err != nil {
		joins.WithLabelValues("bad_request").Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	files, err := h.Files()
	if err != nil {
		joins.WithLabelValues("error").Inc()
		h.Log.Error("server join: bootstrap files", "err", err)
		http.Error(w, "the server cannot read its bootstrap files; see its log", http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), etcdTimeout)
	defer cancel()
	b, err := h.add(ctx, req)
	if err != nil {
		code, result := http.StatusServiceUnavailable, "error"
		if errors.Is(err, ErrMemberExists) {
			code, result = http.StatusConflict, "conflict"
		}
		joins.WithLabelValues(result).Inc()
		h.Log.Warn("server join refused", "name", req.Name, "peer_url", req.PeerURL, "err", err)
		http.Error(w, err.Error(), code)
		return
	}
	b.Files = files
	joins.WithLabelValues("added").Inc()
	h.Log.Info("server joining", "name", req.Name, "peer_url", req.PeerURL, "member", strconv.FormatUint(b.MemberID, 16))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(b)
}

// add makes req's server an etcd learner (or finds the unstarted member
// it already is) and returns the members with it named.
func (h *Handler) add(ctx context.Context, req JoinRequest) (*Bootstrap, error) {
	list, err := h.Etcd.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list etcd members: %w", err)
	}
	ms := members(list.Members)
	id, err := conflict(ms, req)
	if err != nil {
		return nil, err
	}
	if id == 0 {
		resp, err := h.Etcd.MemberAddAsLearner(ctx, []string{req.PeerURL})
		if err != nil {
			if errors.Is(err, rpctypes.ErrTooManyLearners) {
				err = fmt.Errorf("%w: another server is joining; try again once it has", err)
			}
			return nil, fmt.Errorf("add etcd member: %w", err)
		}
		id, ms = resp.Member.ID, members(resp.Members)
	}
	for i := range ms {
		if ms[i].ID == id {
			ms[i].Name = req.Name
		}
	}
	return &Bootstrap{MemberID: id, Members: ms}, nil
}

func (req JoinRequest) validate() error {
	if errs := validation.IsDNS1123Subdomain(req.Name); len(errs) > 0 {
		return fmt.Errorf("server name %q: %s", req.Name, strings.Join(errs, "; "))
	}
	u, err := url.Parse(req.PeerURL)
	if err != nil || u.Scheme != "https" || u.Port() == "" || u.Path != "" {
		return fmt.Errorf("peer URL %q: want https://<address>:<port>", req.PeerURL)
	}
	return nil
}

func (h *Handler) serveList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), etcdTimeout)
	defer cancel()
	list, err := h.Etcd.MemberList(ctx)
	if err != nil {
		http.Error(w, "list etcd members: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(members(list.Members))
}

// serveRemove removes the member named (or with the ID) after the path.
func (h *Handler) serveRemove(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		http.Error(w, "DELETE only", http.StatusMethodNotAllowed)
		return
	}
	which := strings.TrimPrefix(r.URL.Path, ServersPath+"/")
	ctx, cancel := context.WithTimeout(r.Context(), etcdTimeout)
	defer cancel()
	list, err := h.Etcd.MemberList(ctx)
	if err != nil {
		http.Error(w, "list etcd members: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	var found *Member
	for _, m := range members(list.Members) {
		if m.Name == which || m.IDString() == which {
			found = &m
			break
		}
	}
	if found == nil {
		removals.WithLabelValues("not_found").Inc()
		http.Error(w, fmt.Sprintf("no server %q among the etcd members", which), http.StatusNotFound)
		return
	}
	if _, err := h.Etcd.MemberRemove(ctx, found.ID); err != nil {
		code, result := http.StatusServiceUnavailable, "error"
		if errors.Is(err, rpctypes.ErrMemberNotEnoughStarted) || errors.Is(err, rpctypes.ErrUnhealthy) {
			code, result = http.StatusConflict, "refused" // etcd's strict reconfiguration check
		}
		removals.WithLabelValues(result).Inc()
		http.Error(w, fmt.Sprintf("remove etcd member %s (%s): %v", found.Name, found.IDString(), err), code)
		return
	}
	removals.WithLabelValues("removed").Inc()
	h.Log.Info("server removed", "name", found.Name, "member", found.IDString())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(found)
}
