package feed

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/xds/server"
)

// Source is a registry cache the feed follows (store.Cache is one).
type Source interface {
	Subscribe(store.Handler) (unsubscribe func())
	Synced() <-chan struct{}
}

// Sink receives resource changes (server.Server is one).
type Sink interface {
	Update(k server.Kind, set map[string]types.Resource, del []string) error
}

// Weigher turns load into endpoint weights. Weights is called once a period
// with every service's endpoint IPs (keyed "namespace/name") and returns a
// weight per IP and whether anything changed since the last call.
type Weigher interface {
	Weights(now time.Time, groups map[string][]string) (map[string]uint32, bool)
}

// Config configures a Feed.
type Config struct {
	Services, EndpointSlices Source
	Sink                     Sink
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// Window is how long changes are collected before translating
	// (default 20 ms; values above 50 ms are capped).
	Window time.Duration
	// Weigher and WeightPeriod run the cluster-wide weight loop; nil
	// Weigher leaves every endpoint at the neutral weight.
	Weigher      Weigher
	WeightPeriod time.Duration
	Logger       *slog.Logger
	// OnSynced is called once the first translation has been published.
	OnSynced func()
}

const (
	defaultWindow = 20 * time.Millisecond
	maxWindow     = 50 * time.Millisecond
)

// Feed is a running translation loop.
type Feed struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu    sync.Mutex // guards the queue
	queue []queued

	// Owned by the run goroutine.
	services  map[string]*corev1.Service
	slices    map[string]map[string]*discoveryv1.EndpointSlice // service key → slice key → slice
	sliceSvc  map[string]string                                // slice key → service key
	weights   map[string]uint32
	published map[string]*published // service key → what it produced
	dirty     map[string]bool
}

type queued struct {
	slice bool
	e     store.Event
}

// published is what one service last produced, by kind and name.
type published [server.Endpoints + 1]map[string]proto.Message

// New returns a feed; Run starts it.
func New(cfg Config) *Feed {
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	cfg.Window = min(cfg.Window, maxWindow)
	if cfg.WeightPeriod <= 0 {
		cfg.WeightPeriod = time.Second
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Feed{
		cfg: cfg, log: lg.With("component", "xds-feed"), wake: make(chan struct{}, 1),
		services: map[string]*corev1.Service{}, slices: map[string]map[string]*discoveryv1.EndpointSlice{},
		sliceSvc: map[string]string{}, published: map[string]*published{}, dirty: map[string]bool{},
	}
}

// Run follows the sources until ctx ends.
func (f *Feed) Run(ctx context.Context) {
	unsubSvc := f.cfg.Services.Subscribe(f.handler(false))
	defer unsubSvc()
	unsubSl := f.cfg.EndpointSlices.Subscribe(f.handler(true))
	defer unsubSl()
	for _, s := range []Source{f.cfg.Services, f.cfg.EndpointSlices} {
		select {
		case <-s.Synced():
		case <-ctx.Done():
			return
		}
	}
	f.round()
	f.log.Info("registry synced; serving xDS", "services", len(f.services))
	if f.cfg.OnSynced != nil {
		f.cfg.OnSynced()
	}
	tick := time.NewTicker(f.cfg.WeightPeriod)
	defer tick.Stop()
	// At most one round per window: a change after a quiet spell goes out
	// at once; changes that follow within the window wait for its end and
	// go out together, so a rollout is a few pushes, not one per pod.
	window := time.NewTimer(0)
	<-window.C
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
			if wait := f.cfg.Window - time.Since(last); wait > 0 {
				window.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-window.C:
				}
			}
			last = time.Now()
			f.round()
		case now := <-tick.C:
			f.reweigh(now)
		}
	}
}

func (f *Feed) handler(slice bool) store.Handler {
	return func(e store.Event) {
		f.mu.Lock()
		f.queue = append(f.queue, queued{slice, e})
		f.mu.Unlock()
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// round applies queued events and publishes the dirty services.
func (f *Feed) round() {
	f.mu.Lock()
	q := f.queue
	f.queue = nil
	f.mu.Unlock()
	for _, x := range q {
		if x.slice {
			f.applySlice(x.e)
		} else {
			f.applyService(x.e)
		}
	}
	f.publish()
}

func key(namespace, name string) string { return namespace + "/" + name }

func (f *Feed) applyService(e store.Event) {
	if e.Object == nil {
		return
	}
	k := key(e.Object.GetNamespace(), e.Object.GetName())
	switch e.Type {
	case watch.Added, watch.Modified:
		svc, ok := e.Object.(*corev1.Service)
		if !ok {
			return
		}
		f.services[k] = svc
	case watch.Deleted:
		delete(f.services, k)
	default:
		return
	}
	f.dirty[k] = true
}

func (f *Feed) applySlice(e store.Event) {
	if e.Object == nil {
		return
	}
	sk := key(e.Object.GetNamespace(), e.Object.GetName())
	// Whatever happened, the service the slice belonged to changes.
	if old, ok := f.sliceSvc[sk]; ok {
		delete(f.slices[old], sk)
		if len(f.slices[old]) == 0 {
			delete(f.slices, old)
		}
		delete(f.sliceSvc, sk)
		f.dirty[old] = true
	}
	if e.Type != watch.Added && e.Type != watch.Modified {
		return
	}
	sl, ok := e.Object.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	name := sl.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return
	}
	svc := key(sl.Namespace, name)
	if f.slices[svc] == nil {
		f.slices[svc] = map[string]*discoveryv1.EndpointSlice{}
	}
	f.slices[svc][sk] = sl
	f.sliceSvc[sk] = svc
	f.dirty[svc] = true
}

// reweigh runs the weight loop and marks services whose weights moved.
func (f *Feed) reweigh(now time.Time) {
	if f.cfg.Weigher == nil {
		return
	}
	groups := make(map[string][]string, len(f.services))
	for k := range f.services {
		if ips := f.endpointIPs(k); len(ips) > 0 {
			groups[k] = ips
		}
	}
	w, changed := f.cfg.Weigher.Weights(now, groups)
	if !changed {
		return
	}
	for k, ips := range groups {
		for _, ip := range ips {
			if w[ip] != f.weights[ip] {
				f.dirty[k] = true
				break
			}
		}
	}
	f.weights = w
	f.publish()
}

// endpointIPs lists the distinct endpoint IPs of a service's slices.
func (f *Feed) endpointIPs(svc string) []string {
	seen := map[string]bool{}
	var out []string
	for _, sl := range f.slices[svc] {
		for _, ep := range sl.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || seen[a.String()] {
				continue
			}
			seen[a.String()] = true
			out = append(out, a.String())
		}
	}
	return out
}
