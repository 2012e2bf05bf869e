package loadsync

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/trafficload"
	"github.com/shoalmesh/shoal/xds/load"
)

// Keys in etcd. Each replica's load is at api.TrafficPrefix+<replica>
// (trafficload.Key), where the autoscaler reads it too.
const (
	LoadPrefix  = api.TrafficPrefix
	WeightsKey  = "/shoal/xds/weights"
	ElectionKey = "/shoal/leader/xds-weights"
)

// leaseTTL is how long a stopped replica's reports outlive it.
const leaseTTL = 5 // seconds

// opTimeout bounds every etcd call.
const opTimeout = 5 * time.Second

// Config configures a Sync.
type Config struct {
	Client *clientv3.Client
	// Replica names this replica's load key; unique among replicas.
	Replica string
	// Table is where this replica's LRS server puts its clients' reports.
	Table *load.Table
	// Weigher runs on the elected replica.
	Weigher *load.Weigher
	Period  time.Duration
	Logger  *slog.Logger
}

// Sync publishes this replica's load and serves the shared weights. Its
// Weights method is xds/feed's Weigher.
type Sync struct {
	cfg     Config
	log     *slog.Logger
	leading atomic.Bool

	mu       sync.Mutex
	weights  map[string]uint32 // last read from etcd or computed
	revision int64             // etcd revision of weights, 0 if computed here
	fresh    bool              // weights changed since the last Weights call
}

// New returns a Sync; Run starts it.
func New(cfg Config) *Sync {
	if cfg.Period <= 0 {
		cfg.Period = time.Second
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Sync{cfg: cfg, log: lg.With("component", "xds-loadsync", "replica", cfg.Replica), weights: map[string]uint32{}}
}

// Leading reports whether this replica computes the weights.
func (s *Sync) Leading() bool { return s.leading.Load() }

// Run publishes load, campaigns for the lead and follows the weights until
// ctx ends.
func (s *Sync) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){s.publish, s.campaign, s.follow} {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	wg.Wait()
}

// Weights is called by the feed once a period. The leader merges every
// replica's reports, updates the weights and writes them; every replica
// returns the weights last written, and whether they changed since its
// previous call.
func (s *Sync) Weights(now time.Time, groups map[string][]string) (map[string]uint32, bool) {
	if s.leading.Load() {
		s.lead(now, groups)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := s.fresh
	s.fresh = false
	return s.weights, fresh
}

// lead runs one period of the weight loop over every replica's reports.
func (s *Sync) lead(now time.Time, groups map[string][]string) {
	merged, err := s.readLoads(now)
	if err != nil {
		s.log.Warn("read replicas' load; keeping the weights", "err", err)
		return
	}
	w, changed := s.cfg.Weigher.Update(merged, groups)
	if !changed {
		return
	}
	b, err := json.Marshal(w)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := s.cfg.Client.Put(ctx, WeightsKey, string(b)); err != nil {
		s.log.Warn("write weights", "err", err)
		return
	}
	s.mu.Lock()
	s.weights, s.fresh = maps.Clone(w), true
	s.mu.Unlock()
}

// readLoads merges the latest load of every live replica, this one's from
// its own table (it is fresher than what it last wrote).
func (s *Sync) readLoads(now time.Time) (map[string]load.Load, error) {
	others, err := trafficload.Read(context.Background(), s.cfg.Client, s.cfg.Replica, s.log)
	if err != nil {
		return nil, err
	}
	merged := api.TrafficReport(s.cfg.Table.Snapshot(now))
	merged.Merge(others)
	return merged, nil
}

// publish writes this replica's reports under its lease once a period.
func (s *Sync) publish(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Period)
	defer tick.Stop()
	var lease clientv3.LeaseID
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			snap := s.cfg.Table.Snapshot(now)
			for ip, l := range snap {
				if l.Reporters == 0 {
					delete(snap, ip) // CPU only: node agents publish that themselves
				}
			}
			if len(snap) == 0 && lease == 0 {
				continue
			}
			var err error
			if lease == 0 {
				lease, err = s.grant(ctx)
				if err != nil {
					s.log.Warn("grant load lease", "err", err)
					continue
				}
			}
			b, _ := json.Marshal(snap)
			pctx, cancel := context.WithTimeout(ctx, opTimeout)
			_, err = s.cfg.Client.Put(pctx, trafficload.Key(s.cfg.Replica), string(b), clientv3.WithLease(lease))
			cancel()
			if err != nil && ctx.Err() == nil {
				// The lease may have expired (etcd was away longer than
				// its TTL): take a new one next period.
				s.log.Warn("publish load", "err", err)
				rctx, cancel := context.WithTimeout(ctx, opTimeout)
				s.cfg.Client.Revoke(rctx, lease) // stops its keep-alive; may be gone already
				cancel()
				lease = 0
			}
		}
	}
}

func (s *Sync) grant(ctx context.Context) (clientv3.LeaseID, error) {
	gctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	g, err := s.cfg.Client.Grant(gctx, leaseTTL)
	if err != nil {
		return 0, err
	}
	ka, err := s.cfg.Client.KeepAlive(ctx, g.ID)
	if err != nil {
		return 0, fmt.Errorf("keep lease alive: %w", err)
	}
	go func() {
		for range ka { // drain until ctx ends or the lease is lost
		}
	}()
	return g.ID, nil
}

// campaign holds the weights lead while it can, through the same leader
// election the controllers use.
func (s *Sync) campaign(ctx context.Context) {
	controller.RunElection(ctx, s.cfg.Client, ElectionKey, s.cfg.Replica, s.log, leadership{s})
}

// leadership marks its Sync as leading while it runs.
type leadership struct{ s *Sync }

func (leadership) Name() string { return "xds-weights" }

func (l leadership) Run(ctx context.Context) {
	l.s.log.Info("computing endpoint weights for every replica")
	l.s.leading.Store(true)
	<-ctx.Done()
	l.s.leading.Store(false)
}

// follow keeps the weights equal to what the leader last wrote.
func (s *Sync) follow(ctx context.Context) {
	for ctx.Err() == nil {
		gctx, cancel := context.WithTimeout(ctx, opTimeout)
		resp, err := s.cfg.Client.Get(gctx, WeightsKey)
		cancel()
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		if len(resp.Kvs) == 1 {
			s.set(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
		}
		for wr := range s.cfg.Client.Watch(clientv3.WithRequireLeader(ctx), WeightsKey, clientv3.WithRev(resp.Header.Revision+1)) {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					s.set(ev.Kv.Value, ev.Kv.ModRevision)
				}
			}
		}
	}
}

func (s *Sync) set(value []byte, rev int64) {
	var w map[string]uint32
	if err := json.Unmarshal(value, &w); err != nil {
		s.log.Warn("ignoring unreadable weights", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev <= s.revision {
		return
	}
	s.revision = rev
	if !maps.Equal(w, s.weights) {
		s.weights, s.fresh = w, true
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
