package server

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"google.golang.org/protobuf/proto"
)

// sotwStream plays the part of go-control-plane's ordered ADS server for
// one stream and type: one response channel for the stream's life, the
// subscription kept across requests, the returned versions recorded when
// a response is "sent", cancel before each new watch.
type sotwStream struct {
	t      *testing.T
	c      *kindCache
	ch     chan cache.Response
	sub    stream.Subscription
	cancel func()
}

func newSotwStream(t *testing.T, c *kindCache, names ...string) *sotwStream {
	s := &sotwStream{t: t, c: c, ch: make(chan cache.Response, 8), sub: stream.NewSotwSubscription(names, true)}
	s.watch("", names)
	return s
}

// watch cancels the stream's watch and creates it again, as the server
// does for each request.
func (s *sotwStream) watch(version string, names []string) {
	s.t.Helper()
	if s.cancel != nil {
		s.cancel()
		s.sub.SetResourceSubscription(names)
	}
	var err error
	s.cancel, err = s.c.CreateWatch(&discoveryv3.DiscoveryRequest{TypeUrl: s.c.typeURL, VersionInfo: version, ResourceNames: names}, s.sub, s.ch)
	if err != nil {
		s.t.Fatal(err)
	}
}

// take returns the response waiting on the channel, if any, as "sent":
// its returned versions become the subscription's.
func (s *sotwStream) take() *discoveryv3.DiscoveryResponse {
	select {
	case r := <-s.ch:
		s.sub.SetReturnedResources(r.GetReturnedResources())
		out, _ := r.GetDiscoveryResponse()
		return out
	default:
		return nil
	}
}

func listener(name, stat string) *listenerv3.Listener {
	return &listenerv3.Listener{Name: name, StatPrefix: stat}
}

func listenerNames(t *testing.T, r *discoveryv3.DiscoveryResponse) string {
	t.Helper()
	var out []string
	for _, a := range r.GetResources() {
		l := &listenerv3.Listener{} // whatever the type URL says
		if err := proto.Unmarshal(a.GetValue(), l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Name)
	}
	if len(out) > 1 {
		// order is the map's
		if out[0] > out[1] {
			out[0], out[1] = out[1], out[0]
		}
	}
	return strings.Join(out, ",")
}

// TestKindCache follows one stream through requests and changes, for the
// cases where what a response carries depends on the kind and the
// subscription.
func TestKindCache(t *testing.T) {
	a1, a2, b1 := listener("a", "1"), listener("a", "2"), listener("b", "1")
	for _, tc := range []struct {
		name    string
		typeURL string
		names   []string // subscribed; none is a wildcard
		change  map[string]types.Resource
		remove  []string
		want    string // resources in the response to the change ("-" for none)
	}{
		{"full state: a change to one resends every subscribed", resourcev3.ListenerType, []string{"a", "b"}, map[string]types.Resource{"a": a2}, nil, "a,b"},
		{"full state wildcard: the same", resourcev3.ListenerType, nil, map[string]types.Resource{"b": b1}, nil, "a,b"},
		{"full state: a removal is a response without it", resourcev3.ListenerType, []string{"a", "b"}, nil, []string{"b"}, "a"},
		{"incremental: only what changed", resourcev3.RouteType, []string{"a", "b"}, map[string]types.Resource{"a": a2}, nil, "a"},
		{"incremental: a removal sends nothing", resourcev3.RouteType, []string{"a", "b"}, nil, []string{"b"}, "-"},
		{"a change to a name not watched sends nothing", resourcev3.ListenerType, []string{"a"}, map[string]types.Resource{"b": b1}, nil, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newKindCache(tc.typeURL)
			initial := map[string]types.Resource{"a": a1}
			if tc.change["b"] == nil {
				initial["b"] = b1
			}
			if err := c.update(initial, nil); err != nil {
				t.Fatal(err)
			}
			s := newSotwStream(t, c, tc.names...)
			first := s.take()
			if first == nil {
				t.Fatal("no first response")
			}
			s.watch(first.VersionInfo, tc.names) // ACK
			if r := s.take(); r != nil {
				t.Fatalf("an ACK was answered with %s", listenerNames(t, r))
			}
			if err := c.update(tc.change, tc.remove); err != nil {
				t.Fatal(err)
			}
			got := "-"
			if r := s.take(); r != nil {
				got = listenerNames(t, r)
			}
			if got != tc.want {
				t.Errorf("response to the change: %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWatchKeptAcrossRequests checks that a stream's watch is one
// registration for its life, re-indexed when its names change, and that
// the watches of ended streams are swept.
func TestWatchKeptAcrossRequests(t *testing.T) {
	c := newKindCache(resourcev3.EndpointType)
	if err := c.update(map[string]types.Resource{"a": cla("a", "10.0.0.1"), "b": cla("b", "10.0.0.2")}, nil); err != nil {
		t.Fatal(err)
	}
	s := newSotwStream(t, c, "a")
	for range 10 { // ACKs
		r := s.take()
		s.watch(r.GetVersionInfo(), []string{"a"})
		if err := c.update(map[string]types.Resource{"a": cla("a", "10.0.0.3")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.watches(); n != 1 {
		t.Fatalf("%d watches registered after 10 requests on one stream, want 1", n)
	}
	// Move from a to b: a change to a is no longer sent, one to b is.
	r := s.take()
	s.watch(r.GetVersionInfo(), []string{"b"})
	if r := s.take(); r == nil || len(r.Resources) != 1 {
		t.Fatalf("subscribing to b: %v", r)
	}
	s.watch(r.GetVersionInfo(), []string{"b"})
	if err := c.update(map[string]types.Resource{"a": cla("a", "10.0.0.4")}, nil); err != nil {
		t.Fatal(err)
	}
	if r := s.take(); r != nil {
		t.Fatalf("a change to a reached a stream that left it: %v", r)
	}
	if _, ok := c.byName["a"]; ok {
		t.Error("the stream is still indexed under a")
	}
	if err := c.update(map[string]types.Resource{"b": cla("b", "10.0.0.5")}, nil); err != nil {
		t.Fatal(err)
	}
	if r := s.take(); r == nil {
		t.Fatal("a change to b did not reach its watcher")
	}

	// The stream ends: its watch goes at the second sweep (one full period
	// after the cancel), not before.
	s.cancel()
	c.sweep()
	if n := c.watches(); n != 1 {
		t.Fatalf("%d watches after the first sweep, want 1 (kept one period)", n)
	}
	c.sweep()
	if n, idx := c.watches(), len(c.byName); n != 0 || idx != 0 {
		t.Fatalf("after the second sweep: %d watches, %d names indexed; want none", n, idx)
	}
	if err := c.update(map[string]types.Resource{"b": cla("b", "10.0.0.6")}, nil); err != nil {
		t.Fatal(err)
	}
	if r := s.take(); r != nil {
		t.Fatal("an ended stream's watch was answered")
	}
}

// TestUpdateAllOrNothing checks that a resource that cannot be marshalled
// fails the whole update, with nothing of it applied or sent.
func TestUpdateAllOrNothing(t *testing.T) {
	c := newKindCache(resourcev3.ListenerType)
	if err := c.update(map[string]types.Resource{"a": listener("a", "1")}, nil); err != nil {
		t.Fatal(err)
	}
	s := newSotwStream(t, c, "a", "bad")
	r := s.take()
	s.watch(r.GetVersionInfo(), []string{"a", "bad"})
	err := c.update(map[string]types.Resource{"a": listener("a", "2"), "bad": listener("bad", "\xff")}, []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "marshal bad") {
		t.Fatalf("update with invalid UTF-8: %v, want an error naming the resource", err)
	}
	if got := c.resourcesCopy(); len(got) != 1 || got["a"].(*listenerv3.Listener).StatPrefix != "1" {
		t.Errorf("after a failed update the cache holds %v", got)
	}
	if r := s.take(); r != nil {
		t.Errorf("a failed update was sent: %v", r)
	}
}
