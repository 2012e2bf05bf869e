package xdsclient

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

// UserAgent is the node.user_agent_name the client sends; Shoal's server
// gives it the outbound socket Listeners.
const UserAgent = "shoal-proxy"

// Default back-off between reconnections.
const (
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 10 * time.Second
)

// Config configures a Client.
type Config struct {
	// Addr is the xDS server's host:port.
	Addr string
	// NodeID is node.id; Shoal's server refuses an empty one.
	NodeID string
	// Logger, if nil, discards.
	Logger *slog.Logger
	// BackoffMin and BackoffMax bound the exponential back-off between
	// reconnections; zero means DefaultBackoffMin and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
}

// Handler applies configuration to the data plane.
type Handler interface {
	// Apply is called, from Run's goroutine, with the whole configuration
	// after each response that passes validation. An error rejects the
	// response: the client NACKs it with the error's text (return a
	// *ResourceError to name the resource) and the previous snapshot stays
	// in force, so Apply must leave the data plane as it was when it fails.
	Apply(*Snapshot) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(*Snapshot) error

// Apply calls f.
func (f HandlerFunc) Apply(s *Snapshot) error { return f(s) }

// Client is an ADS client. Create it with New and start it with Run.
type Client struct {
	cfg     Config
	log     *slog.Logger
	handler Handler
	node    *corev3.Node
	cur     atomic.Pointer[Snapshot]
	running atomic.Bool
}

// New returns a client that applies what it receives through handler.
func New(cfg Config, handler Handler) *Client {
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffMin)
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:     cfg,
		log:     lg.With("component", "xdsclient", "server", cfg.Addr),
		handler: handler,
		node:    &corev3.Node{Id: cfg.NodeID, UserAgentName: UserAgent},
	}
	c.cur.Store(emptySnapshot())
	return c
}

// Snapshot returns the last accepted configuration (empty before the
// first), for an admin dump. It must not be modified.
func (c *Client) Snapshot() *Snapshot { return c.cur.Load() }

// Run keeps an ADS stream to the server until ctx is done, then returns
// nil. It reconnects after any stream error, keeping the last accepted
// configuration meanwhile. It returns an error only if the configuration
// is unusable or Run is already running.
func (c *Client) Run(ctx context.Context) error {
	if c.cfg.Addr == "" || c.cfg.NodeID == "" {
		return errNoConfig
	}
	if !c.running.CompareAndSwap(false, true) {
		return errRunning
	}
	defer c.running.Store(false)
	cc, err := Dial(c.cfg.Addr, c.cfg.BackoffMin, c.cfg.BackoffMax)
	if err != nil {
		return fmt.Errorf("xdsclient: dial %s: %w", c.cfg.Addr, err)
	}
	defer cc.Close()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(cc)
	RetryStreams(ctx, c.cfg.BackoffMin, c.cfg.BackoffMax,
		func(ctx context.Context) (bool, error) { return c.stream(ctx, ads) },
		func(err error, d time.Duration) {
			c.log.Warn("xDS stream ended; serving the last accepted configuration", "error", err, "retry_in", d)
		})
	return nil
}

// session is the per-stream protocol state.
type session struct {
	st     discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	nonces [numTypes]string
	// names is the subscription last sent per type; nil for wildcard.
	names [numTypes][]string
	// sent is whether a request of the type went out on this stream.
	sent [numTypes]bool
}

var wildcard = []string{"*"}

// stream runs one ADS stream until it fails; received reports whether any
// response came, to reset the back-off.
func (c *Client) stream(ctx context.Context, ads discoveryv3.AggregatedDiscoveryServiceClient) (received bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := ads.StreamAggregatedResources(sctx)
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	s := &session{st: st}
	cur := c.cur.Load()
	// Resubscribe with the versions held: the server sends all it has
	// anyway on a new stream, and the versions tell it what we run.
	for _, t := range []Type{LDS, CDS} {
		if err := c.request(s, t, wildcard, cur.Versions[t], nil); err != nil {
			return false, err
		}
	}
	if err := c.resubscribe(s, cur); err != nil {
		return false, err
	}
	c.log.Info("xDS stream open")
	for {
		resp, err := st.Recv()
		if err != nil {
			return received, fmt.Errorf("receive: %w", err)
		}
		received = true
		if err := c.handle(s, resp); err != nil {
			return received, err
		}
	}
}

// handle validates, applies and ACKs or NACKs one response. It returns an
// error only if the stream broke.
func (c *Client) handle(s *session, resp *discoveryv3.DiscoveryResponse) error {
	t, ok := typeOf(resp.GetTypeUrl())
	if !ok {
		// Nothing subscribed to it; say so rather than stay silent.
		c.log.Warn("NACK: unexpected type", "type", resp.GetTypeUrl())
		return s.send(&discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(),
			ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: errUnexpectedType.Error()}})
	}
	s.nonces[t] = resp.GetNonce()
	cur := c.cur.Load()
	next, err := merge(cur, t, resp)
	if err == nil {
		if err = c.handler.Apply(next); err != nil {
			err = fmt.Errorf("apply: %w", err)
		}
	}
	if err != nil {
		c.log.Warn("NACK: configuration rejected, keeping the previous one", "type", t.String(),
			"version", resp.GetVersionInfo(), "kept_version", cur.Versions[t], "reason", err.Error())
		return c.request(s, t, s.names[t], cur.Versions[t], err)
	}
	c.cur.Store(next)
	c.log.Debug("ACK", "type", t.String(), "version", resp.GetVersionInfo(), "resources", len(resp.GetResources()))
	if err := c.request(s, t, s.names[t], next.Versions[t], nil); err != nil {
		return err
	}
	return c.resubscribe(s, next)
}

// resubscribe brings the RDS and EDS subscriptions in line with snap's
// listeners and clusters. An empty subscription is sent only to drop an
// earlier one: as a first request it would mean wildcard.
func (c *Client) resubscribe(s *session, snap *Snapshot) error {
	for _, x := range []struct {
		t     Type
		names []string
	}{{RDS, routeNames(snap)}, {EDS, edsNames(snap)}} {
		if slices.Equal(x.names, s.names[x.t]) && s.sent[x.t] {
			continue
		}
		if len(x.names) == 0 && !s.sent[x.t] {
			continue
		}
		if x.names == nil {
			x.names = []string{}
		}
		if err := c.request(s, x.t, x.names, snap.Versions[x.t], nil); err != nil {
			return err
		}
	}
	return nil
}

// request sends a subscription, ACK (nack nil) or NACK for type t.
func (c *Client) request(s *session, t Type, names []string, version string, nack error) error {
	req := &discoveryv3.DiscoveryRequest{
		Node:          c.node,
		TypeUrl:       t.URL(),
		VersionInfo:   version,
		ResponseNonce: s.nonces[t],
		ResourceNames: names,
	}
	if nack != nil {
		req.ErrorDetail = &statuspb.Status{Code: int32(codes.InvalidArgument), Message: nack.Error()}
	}
	s.names[t] = names
	s.sent[t] = true
	return s.send(req)
}

func (s *session) send(req *discoveryv3.DiscoveryRequest) error {
	if err := s.st.Send(req); err != nil {
		return fmt.Errorf("send %s request: %w", req.GetTypeUrl(), err)
	}
	return nil
}
