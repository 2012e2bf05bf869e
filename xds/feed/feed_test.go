package feed

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/server"
)

// source is an in-memory Source: events sent to it go to its subscriber.
type source struct {
	mu     sync.Mutex
	h      store.Handler
	synced chan struct{}
}

func newSource() *source { return &source{synced: make(chan struct{})} }

func (s *source) Subscribe(h store.Handler) func() {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
	return func() {}
}
func (s *source) Synced() <-chan struct{} { return s.synced }
func (s *source) subscribed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h != nil
}
func (s *source) emit(t watch.EventType, o store.Object) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	h(store.Event{Type: t, Object: o})
}

// sink records every Update call.
type sink struct {
	mu      sync.Mutex
	calls   []string
	state   map[server.Kind]map[string]types.Resource
	markers int // sent by settle
}

func (s *sink) Update(k server.Kind, set map[string]types.Resource, del []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		s.state = map[server.Kind]map[string]types.Resource{}
	}
	if s.state[k] == nil {
		s.state[k] = map[string]types.Resource{}
	}
	for n, r := range set {
		s.calls = append(s.calls, fmt.Sprintf("set %s %s", k, n))
		s.state[k][n] = r
	}
	for _, n := range del {
		s.calls = append(s.calls, fmt.Sprintf("del %s %s", k, n))
		delete(s.state[k], n)
	}
	return nil
}

func (s *sink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func svc(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0." + fmt.Sprint(len(name)+int(name[0])%100), Ports: []corev1.ServicePort{{Name: "grpc", Port: 80}}}}
}

func slice(service string, n int) *discoveryv1.EndpointSlice {
	name, port := "grpc", int32(8080)
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: service + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	for i := range n {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.1.0.%d", i+1)}})
	}
	return sl
}

func startFeed(t *testing.T, window time.Duration) (*source, *source, *sink) {
	svcs, slices, out := newSource(), newSource(), &sink{}
	synced := make(chan struct{})
	f := New(Config{Services: svcs, EndpointSlices: slices, Sink: out, Window: window, OnSynced: func() { close(synced) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 5*time.Second, "the feed subscribes", func() bool { return svcs.subscribed() && slices.subscribed() })
	svcs.emit(watch.Added, svc("a"))
	svcs.emit(watch.Added, svc("b"))
	slices.emit(watch.Added, slice("a", 2))
	slices.emit(watch.Added, slice("b", 2))
	close(svcs.synced)
	close(slices.synced)
	<-synced
	return svcs, slices, out
}

// markerCall is the update a settle marker causes.
const markerCall = "set endpoints b.ns.svc.cluster.local:80"

// settle returns the calls the events sent so far cause, all of them: it
// sends a marker after them (a change to service b's endpoints) and waits
// for the marker's update. The feed applies events in order and publishes
// everything applied in a round, so once the marker's update is made every
// earlier event's updates have been made too; no fixed wait guesses how
// long "nothing more" takes. The marker's call is left out.
func settle(t *testing.T, sliceSrc *source, out *sink) []string {
	t.Helper()
	out.markers++
	sliceSrc.emit(watch.Modified, slice("b", 4+out.markers)) // a new endpoint count each time: a real change
	var got []string
	testenv.Eventually(t, 5*time.Second, "the marker's update", func() error {
		got = append(got, out.take()...)
		if !slices.Contains(got, markerCall) {
			return fmt.Errorf("calls so far %v", got)
		}
		return nil
	})
	i := slices.Index(got, markerCall)
	return slices.Delete(got, i, i+1)
}

func TestFeedInitialAndIncremental(t *testing.T) {
	_, slices, out := startFeed(t, 20*time.Millisecond)
	// Both services: api listener, outbound listener, route, cluster, eds.
	if got := out.take(); len(got) != 10 {
		t.Fatalf("initial publish: %v", got)
	}
	slices.emit(watch.Modified, slice("a", 3))
	got := settle(t, slices, out)
	if len(got) != 1 || got[0] != "set endpoints a.ns.svc.cluster.local:80" {
		t.Errorf("an endpoint change to a sent %v; want only a's assignment", got)
	}
}

// TestFeedCoalesces checks that 100 changes in quick succession (a rollout)
// become a handful of updates, each carrying the latest state.
func TestFeedCoalesces(t *testing.T) {
	_, slices, out := startFeed(t, 50*time.Millisecond)
	out.take()
	for i := range 100 {
		slices.emit(watch.Modified, slice("a", 3+i%5))
	}
	got := settle(t, slices, out)
	if len(got) == 0 || len(got) > 3 {
		t.Errorf("100 changes within the window gave %d updates: %v", len(got), got)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if n := countEndpoints(out.state[server.Endpoints]["a.ns.svc.cluster.local:80"]); n != 3+99%5 {
		t.Errorf("published assignment has %d endpoints, want the last state's %d", n, 3+99%5)
	}
}

func TestFeedServiceDelete(t *testing.T) {
	svcs, slices, out := startFeed(t, 10*time.Millisecond)
	out.take()
	svcs.emit(watch.Deleted, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}})
	got := settle(t, slices, out)
	if len(got) != 5 {
		t.Fatalf("deleting a service: %v; want its 5 resources deleted", got)
	}
	// Make-before-break in reverse: listeners go before clusters.
	if got[0] != "del api_listeners a.ns.svc.cluster.local:80" || got[4] != "del endpoints a.ns.svc.cluster.local:80" {
		t.Errorf("delete order %v", got)
	}
}

func countEndpoints(r types.Resource) int {
	type lbs interface {
		GetEndpoints() []*endpointv3.LocalityLbEndpoints
	}
	n := 0
	if c, ok := r.(lbs); ok {
		for _, l := range c.GetEndpoints() {
			n += len(l.LbEndpoints)
		}
	}
	return n
}
