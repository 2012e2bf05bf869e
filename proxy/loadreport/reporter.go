package loadreport

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	lrsv3 "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"

	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/xdsclient"
)

// Bounds on what the server may ask, and on what is carried over a
// disconnection.
const (
	// MinInterval is the shortest reporting interval followed; a server
	// asking for less gets reports this often.
	MinInterval = 10 * time.Millisecond
	// maxCarry is the longest gap between reports whose counts are carried
	// into the next report; after a longer disconnection the counts start
	// afresh. An average over so long says nothing of the current load,
	// and Shoal's server refuses intervals over an hour.
	maxCarry = 5 * time.Minute
)

// sendAllClusters is the client feature that lets the server ask for
// every cluster.
const sendAllClusters = "envoy.lrs.supports_send_all_clusters"

// Config configures a Reporter.
type Config struct {
	// Addr is the LRS server's host:port: Shoal's xDS address
	// (lrs_server: self).
	Addr string
	// NodeID is node.id, as the xDS client sends it.
	NodeID string
	// Clusters returns the proxy's current clusters by xDS cluster name. It
	// is called from Run's goroutine once per interval and must be safe to
	// call concurrently with configuration updates. The map is only read.
	Clusters func() map[string]ClusterInfo
	// Logger, if nil, discards.
	Logger *slog.Logger
	// BackoffMin and BackoffMax bound the exponential back-off between
	// reconnections; zero means xdsclient's defaults.
	BackoffMin, BackoffMax time.Duration
}

// ClusterInfo is what a report needs of one xDS cluster.
type ClusterInfo struct {
	// EDSName is the cluster's EDS service name, reported as
	// cluster_service_name.
	EDSName string
	// LRS is whether the cluster asks for load reports (lrs_server: self);
	// other clusters are never reported.
	LRS bool
	// Endpoints are the cluster's endpoints as EDS gave them, for their
	// localities (Shoal's EDS gives each endpoint its own, with the
	// endpoint's IP as sub_zone).
	Endpoints []xdsclient.Endpoint
	// Balancer is the cluster's balancer, whose hosts count the load.
	Balancer *balancer.Balancer
}

// Reporter is an LRS client. Create it with New and start it with Run.
type Reporter struct {
	cfg     Config
	log     *slog.Logger
	node    *corev3.Node
	tally   *tally
	running atomic.Bool
}

// New returns a reporter; Run starts it.
func New(cfg Config) *Reporter {
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = xdsclient.DefaultBackoffMin
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = xdsclient.DefaultBackoffMax
	}
	cfg.BackoffMax = max(cfg.BackoffMax, cfg.BackoffMin)
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Reporter{
		cfg:  cfg,
		log:  lg.With("component", "loadreport", "server", cfg.Addr),
		node: &corev3.Node{Id: cfg.NodeID, UserAgentName: xdsclient.UserAgent, ClientFeatures: []string{sendAllClusters}},
	}
}

// Run reports load to the server until ctx is done, then returns nil. It
// reconnects after any stream error; the counts not yet sent go into the
// first report on the next stream. It returns an error only if the
// configuration is unusable or Run is already running.
func (r *Reporter) Run(ctx context.Context) error {
	if r.cfg.Addr == "" || r.cfg.NodeID == "" || r.cfg.Clusters == nil {
		return errNoConfig
	}
	if !r.running.CompareAndSwap(false, true) {
		return errRunning
	}
	defer r.running.Store(false)
	cc, err := xdsclient.Dial(r.cfg.Addr, r.cfg.BackoffMin, r.cfg.BackoffMax)
	if err != nil {
		return fmt.Errorf("loadreport: dial %s: %w", r.cfg.Addr, err)
	}
	defer cc.Close()
	lrs := lrsv3.NewLoadReportingServiceClient(cc)

	// Counting starts now: what the hosts counted before is no one
	// interval's load.
	r.tally = newTally()
	r.tally.read(r.cfg.Clusters())
	r.tally.commit(time.Now())

	xdsclient.RetryStreams(ctx, r.cfg.BackoffMin, r.cfg.BackoffMax,
		func(ctx context.Context) (bool, error) { return r.stream(ctx, lrs) },
		func(err error, d time.Duration) {
			r.log.Warn("LRS stream ended; load is counted until the next one", "error", err, "retry_in", d)
		})
	return nil
}

// stream runs one LRS stream until it fails; received reports whether the
// server answered, to reset the back-off.
func (r *Reporter) stream(ctx context.Context, lrs lrsv3.LoadReportingServiceClient) (received bool, err error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // before the Wait: it ends the receiving goroutine
	st, err := lrs.StreamLoadStats(sctx)
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	// The first request only says who we are; reports follow the answer.
	if err := st.Send(&lrsv3.LoadStatsRequest{Node: r.node}); err != nil {
		return false, fmt.Errorf("send: %w", err)
	}
	resp, err := st.Recv()
	if err != nil {
		return false, fmt.Errorf("receive: %w", err)
	}
	req, iv, err := parse(resp)
	if err != nil {
		return true, err
	}
	// The server may change its mind at any time; its answers come in on
	// their own goroutine so that reports keep their pace.
	resps := make(chan *lrsv3.LoadStatsResponse)
	recvErr := make(chan error, 1)
	wg.Go(func() {
		for {
			resp, err := st.Recv()
			if err != nil {
				recvErr <- fmt.Errorf("receive: %w", err)
				return
			}
			select {
			case resps <- resp:
			case <-sctx.Done():
				return
			}
		}
	})
	r.log.Info("LRS stream open", "interval", iv, "all_clusters", req.all, "clusters", len(req.clusters))
	if time.Since(r.tally.since) > maxCarry {
		r.log.Info("dropping load counted while disconnected: too old to report", "since", r.tally.since)
		r.tally.read(r.cfg.Clusters())
		r.tally.commit(time.Now())
	}
	tick := time.NewTimer(iv)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-recvErr:
			return true, err
		case resp := <-resps:
			if req, iv, err = parse(resp); err != nil {
				return true, err
			}
			r.log.Debug("LRS settings changed", "interval", iv, "all_clusters", req.all, "clusters", len(req.clusters))
			tick.Reset(iv)
		case <-tick.C:
			if err := r.report(st, req); err != nil {
				return true, err
			}
			tick.Reset(iv)
		}
	}
}

// report sends the load since the last report and, once sent, makes it
// the new starting point. A failed send leaves it to the next stream.
func (r *Reporter) report(st lrsv3.LoadReportingService_StreamLoadStatsClient, req request) error {
	r.tally.read(r.cfg.Clusters())
	now := time.Now()
	stats := r.tally.build(req, now)
	// Sent even when empty: the server learns that the endpoints it heard
	// of before are idle now.
	if err := st.Send(&lrsv3.LoadStatsRequest{ClusterStats: stats}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	r.tally.commit(now)
	return nil
}

// parse reads a LoadStatsResponse: what to report, and how often.
func parse(resp *lrsv3.LoadStatsResponse) (request, time.Duration, error) {
	d := resp.GetLoadReportingInterval()
	if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
		return request{}, 0, fmt.Errorf("%w: %v", errBadInterval, d)
	}
	req := request{all: resp.GetSendAllClusters(), endpoints: resp.GetReportEndpointGranularity()}
	if !req.all {
		req.clusters = make(map[string]bool, len(resp.GetClusters()))
		for _, c := range resp.GetClusters() {
			req.clusters[c] = true
		}
	}
	return req, max(d.AsDuration(), MinInterval), nil
}
