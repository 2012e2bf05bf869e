package dashboard

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Tick is how often the hub publishes a snapshot and samples the history;
// coalesce is the least time between two snapshots a change triggers.
const (
	Tick     = time.Second
	coalesce = 200 * time.Millisecond
)

// opTimeout bounds each etcd read.
const opTimeout = 5 * time.Second

// hub turns the caches and the etcd traffic into snapshots for every
// viewer of one API server.
type hub struct {
	caches  *store.Caches
	etcd    *clientv3.Client
	log     *slog.Logger
	history *history
	errors  func(what string) // counts a failure

	mu      sync.Mutex
	snap    *snapshot
	changed chan struct{} // closed when snap is replaced
	traffic map[string]api.TrafficReport
	weights map[string]uint32

	dirty chan struct{}
}

func newHub(caches *store.Caches, etcd *clientv3.Client, log *slog.Logger, errors func(string)) *hub {
	return &hub{
		caches: caches, etcd: etcd, log: log, history: newHistory(), errors: errors,
		snap: &snapshot{endpoints: map[string][]string{}}, changed: make(chan struct{}),
		traffic: map[string]api.TrafficReport{}, dirty: make(chan struct{}, 1),
	}
}

// watched are the resources the dashboard shows or needs.
var watched = []*api.Resource{
	api.Namespaces.Resource, api.Nodes.Resource, api.Leases.Resource, api.Services.Resource,
	api.EndpointSlices.Resource, api.Deployments.Resource, api.Events.Resource,
}

// current is the newest snapshot and a channel closed when there is a
// newer one. Until run has built one, it is an empty snapshot of gen 0.
func (h *hub) current() (*snapshot, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snap, h.changed
}

func (h *hub) poke() {
	select {
	case h.dirty <- struct{}{}:
	default:
	}
}

// run publishes snapshots until ctx ends.
func (h *hub) run(ctx context.Context) {
	for _, r := range watched {
		unsubscribe := h.caches.For(r).Subscribe(func(store.Event) { h.poke() })
		defer unsubscribe()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { h.follow(ctx, api.TrafficPrefix, true, h.setTraffic) })
	wg.Go(func() { h.follow(ctx, api.WeightsKey, false, h.setWeights) })

	// The first snapshot at once: streams wait for it (gen 0 is none).
	h.publish(h.build(time.Now()))
	tick := time.NewTicker(Tick)
	defer tick.Stop()
	var pending <-chan time.Time
	changed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.dirty:
			changed = true
			if pending == nil {
				pending = time.After(coalesce)
			}
		case <-pending:
			pending, changed = nil, false
			h.publish(h.build(time.Now()))
		case now := <-tick.C:
			var s *snapshot
			if changed {
				s, changed = h.build(now), false
			} else {
				prev, _ := h.current()
				s = prev.retimed(now)
			}
			h.history.record(now, s.samples)
			h.publish(s)
		}
	}
}

func (h *hub) build(now time.Time) *snapshot {
	list := func(r *api.Resource, ns string) []store.Object {
		return h.caches.For(r).List(ns, store.Predicate{})
	}
	src := sources{
		namespaces: list(api.Namespaces.Resource, ""),
		nodes:      list(api.Nodes.Resource, ""),
		leases:     list(api.Leases.Resource, api.NodeLeaseNamespace),
		services:   list(api.Services.Resource, ""),
		slices:     list(api.EndpointSlices.Resource, ""),
		deploys:    list(api.Deployments.Resource, ""),
		events:     list(api.Events.Resource, ""),
		traffic:    api.TrafficReport{},
	}
	h.mu.Lock()
	for _, r := range h.traffic {
		src.traffic.Merge(r)
	}
	src.weights = h.weights
	h.mu.Unlock()
	return build(src, now)
}

func (h *hub) publish(s *snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.gen = h.snap.gen + 1
	h.snap = s
	close(h.changed)
	h.changed = make(chan struct{})
}

// setTraffic applies the replicas' reports: all of them (reset) or one
// change.
func (h *hub) setTraffic(reset bool, kv *mvccpb.KeyValue, deleted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if reset {
		h.traffic = map[string]api.TrafficReport{}
	}
	if kv == nil {
		return
	}
	replica := strings.TrimPrefix(string(kv.Key), api.TrafficPrefix)
	if deleted {
		delete(h.traffic, replica)
		return
	}
	r, err := api.ParseTrafficReport(kv.Value)
	if err != nil {
		h.errors("traffic")
		h.log.Warn("ignoring a replica's unreadable traffic report", "replica", replica, "err", err)
		delete(h.traffic, replica)
		return
	}
	h.traffic[replica] = r
}

func (h *hub) setWeights(reset bool, kv *mvccpb.KeyValue, deleted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if reset || deleted {
		h.weights = nil
	}
	if kv == nil || deleted {
		return
	}
	w, err := api.ParseWeights(kv.Value)
	if err != nil {
		h.errors("weights")
		h.log.Warn("ignoring unreadable endpoint weights", "err", err)
		return
	}
	h.weights = w
}

// follow keeps apply's state equal to the etcd key (or every key under
// it, with prefix): it reads, calls apply(true, nil, false) and then
// apply(false, kv, false) for each key, then watches from the next
// revision, and reads again whenever the watch breaks (etcd compacted or
// lost its leader), until ctx ends.
func (h *hub) follow(ctx context.Context, key string, prefix bool, apply func(reset bool, kv *mvccpb.KeyValue, deleted bool)) {
	var opts []clientv3.OpOption
	if prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	for ctx.Err() == nil {
		gctx, cancel := context.WithTimeout(ctx, opTimeout)
		resp, err := h.etcd.Get(gctx, key, opts...)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				h.errors("etcd")
				h.log.Debug("read traffic from etcd", "key", key, "err", err)
			}
			sleep(ctx, time.Second)
			continue
		}
		apply(true, nil, false)
		for _, kv := range resp.Kvs {
			apply(false, kv, false)
		}
		h.poke()
		wopts := append([]clientv3.OpOption{clientv3.WithRev(resp.Header.Revision + 1)}, opts...)
		for wr := range h.etcd.Watch(clientv3.WithRequireLeader(ctx), key, wopts...) {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				apply(false, ev.Kv, ev.Type == clientv3.EventTypeDelete)
			}
			h.poke()
		}
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
