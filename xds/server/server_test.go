package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// start serves a Server on a loopback port and returns it with a client
// connection to it.
func start(t *testing.T) (*Server, *grpc.ClientConn) { return startB(t) }

func startB(t testing.TB) (*Server, *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := New(ctx, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { cancel(); s.Stop(time.Second) })
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return s, cc
}

func cla(name string, ips ...string) *endpointv3.ClusterLoadAssignment {
	c := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	for _, ip := range ips {
		c.Endpoints = append(c.Endpoints, &endpointv3.LocalityLbEndpoints{LbEndpoints: []*endpointv3.LbEndpoint{{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
				Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 80}}},
			}}},
		}}})
	}
	return c
}

func grpcNode(id string) *corev3.Node { return &corev3.Node{Id: id, UserAgentName: "gRPC Go"} }

// ads is a raw ADS stream with a reader goroutine.
type ads struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	resp   chan *discoveryv3.DiscoveryResponse
	err    chan error
}

func openADS(t *testing.T, cc *grpc.ClientConn) *ads {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := &ads{t: t, stream: st, resp: make(chan *discoveryv3.DiscoveryResponse, 100), err: make(chan error, 1)}
	go func() {
		for {
			r, err := st.Recv()
			if err != nil {
				a.err <- err
				return
			}
			a.resp <- r
		}
	}()
	return a
}

func (a *ads) send(req *discoveryv3.DiscoveryRequest) {
	a.t.Helper()
	if err := a.stream.Send(req); err != nil {
		a.t.Fatal(err)
	}
}

func (a *ads) recv() *discoveryv3.DiscoveryResponse {
	a.t.Helper()
	select {
	case r := <-a.resp:
		return r
	case err := <-a.err:
		a.t.Fatalf("stream ended: %v", err)
	case <-time.After(10 * time.Second):
		a.t.Fatal("no response in 10 s")
	}
	return nil
}

// quiet asserts that nothing arrives for d.
func (a *ads) quiet(d time.Duration) {
	a.t.Helper()
	select {
	case r := <-a.resp:
		a.t.Fatalf("unexpected response (version %s, %d resources)", r.VersionInfo, len(r.Resources))
	case err := <-a.err:
		a.t.Fatalf("stream ended: %v", err)
	case <-time.After(d):
	}
}

func names(t *testing.T, r *discoveryv3.DiscoveryResponse) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, a := range r.Resources {
		c := &endpointv3.ClusterLoadAssignment{}
		if err := a.UnmarshalTo(c); err != nil {
			t.Fatal(err)
		}
		out[c.ClusterName] = true
	}
	return out
}

// TestIncrementalEDS checks that a change to one assignment is sent only to
// the streams watching it, and only that assignment.
func TestIncrementalEDS(t *testing.T) {
	s, cc := start(t)
	if err := s.Update(Endpoints, map[string]types.Resource{"a": cla("a", "10.0.0.1"), "b": cla("b", "10.0.0.2")}, nil); err != nil {
		t.Fatal(err)
	}
	both, onlyB := openADS(t, cc), openADS(t, cc)
	both.send(&discoveryv3.DiscoveryRequest{Node: grpcNode("both"), TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"a", "b"}})
	onlyB.send(&discoveryv3.DiscoveryRequest{Node: grpcNode("only-b"), TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"b"}})
	r1, r2 := both.recv(), onlyB.recv()
	if got := names(t, r1); len(got) != 2 {
		t.Fatalf("first response to both: %v", got)
	}
	for _, x := range []struct {
		a *ads
		r *discoveryv3.DiscoveryResponse
	}{{both, r1}, {onlyB, r2}} { // ACK
		x.a.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: x.r.VersionInfo, ResponseNonce: x.r.Nonce, ResourceNames: map[*ads][]string{both: {"a", "b"}, onlyB: {"b"}}[x.a]})
	}
	if err := s.Update(Endpoints, map[string]types.Resource{"a": cla("a", "10.0.0.1", "10.0.0.3")}, nil); err != nil {
		t.Fatal(err)
	}
	if got := names(t, both.recv()); len(got) != 1 || !got["a"] {
		t.Errorf("after a change to a, the watcher of a and b got %v; want only a", got)
	}
	onlyB.quiet(300 * time.Millisecond)
}

// TestNACKIsNotResent checks that a NACKed response is not sent again (the
// client keeps its last good config), including for a client that never
// accepted anything, and that the next change is sent.
func TestNACKIsNotResent(t *testing.T) {
	for _, accepted := range []bool{false, true} {
		t.Run(fmt.Sprintf("accepted-before=%v", accepted), func(t *testing.T) {
			s, cc := start(t)
			before := testutil.ToFloat64(nacksTotal.WithLabelValues("lds"))
			l := &listenerv3.Listener{Name: "svc:80"}
			if err := s.Update(APIListeners, map[string]types.Resource{"svc:80": l}, nil); err != nil {
				t.Fatal(err)
			}
			a := openADS(t, cc)
			req := &discoveryv3.DiscoveryRequest{Node: grpcNode("n"), TypeUrl: resourcev3.ListenerType, ResourceNames: []string{"svc:80"}}
			a.send(req)
			r := a.recv()
			version := ""
			if accepted {
				a.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResourceNames: req.ResourceNames, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
				version = r.VersionInfo
				l2 := &listenerv3.Listener{Name: "svc:80", StatPrefix: "bad"}
				if err := s.Update(APIListeners, map[string]types.Resource{"svc:80": l2}, nil); err != nil {
					t.Fatal(err)
				}
				r = a.recv()
			}
			a.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResourceNames: req.ResourceNames, VersionInfo: version,
				ResponseNonce: r.Nonce, ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: "bad listener"}})
			a.quiet(500 * time.Millisecond)
			if got := testutil.ToFloat64(nacksTotal.WithLabelValues("lds")) - before; got != 1 {
				t.Errorf("nacks_total rose by %v, want 1", got)
			}
			fixed := &listenerv3.Listener{Name: "svc:80", StatPrefix: "fixed"}
			if err := s.Update(APIListeners, map[string]types.Resource{"svc:80": fixed}, nil); err != nil {
				t.Fatal(err)
			}
			if r := a.recv(); len(r.Resources) != 1 {
				t.Errorf("after a fix: %d resources", len(r.Resources))
			}
		})
	}
}

// TestBadClients checks that an empty node id is refused with a clear
// error, and that unknown names, unknown node ids and clients that vanish
// mid-stream leave other clients served.
func TestBadClients(t *testing.T) {
	s, cc := start(t)
	if err := s.Update(Endpoints, map[string]types.Resource{"a": cla("a", "10.0.0.1")}, nil); err != nil {
		t.Fatal(err)
	}
	good := openADS(t, cc)
	good.send(&discoveryv3.DiscoveryRequest{Node: grpcNode("good"), TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"a"}})
	r := good.recv()
	good.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"a"}, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})

	anon := openADS(t, cc)
	anon.send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{}, TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"a"}})
	select {
	case err := <-anon.err:
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("empty node id: %v, want InvalidArgument", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("empty node id was not refused")
	}

	// Names that do not exist: one empty answer (the client learns they do
	// not exist), no error, and they arrive once created.
	ghost := openADS(t, cc)
	ghost.send(&discoveryv3.DiscoveryRequest{Node: grpcNode("never-registered-anywhere"), TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"nope"}})
	if r := ghost.recv(); len(r.Resources) != 0 {
		t.Fatalf("unknown name answered with %d resources", len(r.Resources))
	} else {
		ghost.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"nope"}, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
	}
	ghost.quiet(300 * time.Millisecond)

	// Unknown type: the stream ends with an error naming it.
	odd := openADS(t, cc)
	odd.send(&discoveryv3.DiscoveryRequest{Node: grpcNode("odd"), TypeUrl: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"})
	select {
	case err := <-odd.err:
		t.Logf("unknown type: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("unknown type neither answered nor refused")
	}

	// Clients that disconnect mid-stream.
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Send(&discoveryv3.DiscoveryRequest{Node: grpcNode("flaky"), TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"a"}})
		cancel()
	}

	if err := s.Update(Endpoints, map[string]types.Resource{"nope": cla("nope", "10.0.0.9"), "a": cla("a", "10.0.0.2")}, nil); err != nil {
		t.Fatal(err)
	}
	if got := names(t, ghost.recv()); !got["nope"] {
		t.Errorf("subscriber of a name created later got %v", got)
	}
	if got := names(t, good.recv()); !got["a"] {
		t.Errorf("good client got %v after the others misbehaved", got)
	}
}

// TestThousandClients connects 1000 ADS streams at once; each gets its
// assignment, and a change reaches all of them.
func TestThousandClients(t *testing.T) {
	s, cc := start(t)
	if err := s.Update(Endpoints, map[string]types.Resource{"a": cla("a", "10.0.0.1")}, nil); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	changed := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
			if err == nil {
				err = st.Send(&discoveryv3.DiscoveryRequest{Node: grpcNode(fmt.Sprint("c", i)), TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"a"}})
			}
			var r *discoveryv3.DiscoveryResponse
			if err == nil {
				r, err = st.Recv()
			}
			if err == nil {
				err = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"a"}, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
			}
			if err == nil {
				errs <- nil // connected
				<-changed
				r, err = st.Recv()
				if err == nil && len(r.Resources) != 1 {
					err = fmt.Errorf("client %d: %d resources", i, len(r.Resources))
				}
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(Endpoints, map[string]types.Resource{"a": cla("a", "10.0.0.2")}, nil); err != nil {
		t.Fatal(err)
	}
	close(changed)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestListenersByClient checks that gRPC clients get ApiListeners and
// other clients socket listeners.
func TestListenersByClient(t *testing.T) {
	s, cc := start(t)
	if err := s.Update(APIListeners, map[string]types.Resource{"echo:80": &listenerv3.Listener{Name: "echo:80"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(OutboundListeners, map[string]types.Resource{"10.96.0.5_80": &listenerv3.Listener{Name: "10.96.0.5_80"}}, nil); err != nil {
		t.Fatal(err)
	}
	for ua, want := range map[string]string{"gRPC Go": "echo:80", "envoy": "10.96.0.5_80", "shoal-proxy": "10.96.0.5_80"} {
		a := openADS(t, cc)
		a.send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n", UserAgentName: ua}, TypeUrl: resourcev3.ListenerType})
		r := a.recv()
		if len(r.Resources) != 1 {
			t.Fatalf("%s: %d listeners", ua, len(r.Resources))
		}
		l := &listenerv3.Listener{}
		if err := r.Resources[0].UnmarshalTo(l); err != nil || l.Name != want {
			t.Errorf("%s got listener %q, want %q (%v)", ua, l.Name, want, err)
		}
	}
}

// TestDelta checks the incremental protocol: the subscribed assignment
// arrives, a change sends just it, and a removal is a removed name.
func TestDelta(t *testing.T) {
	s, cc := start(t)
	if err := s.Update(Endpoints, map[string]types.Resource{"a": cla("a", "10.0.0.1"), "b": cla("b", "10.0.0.2")}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: grpcNode("delta"), TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"a"}})
	r, err := st.Recv()
	if err != nil || len(r.Resources) != 1 || r.Resources[0].Name != "a" {
		t.Fatalf("first delta response: %v %v", r, err)
	}
	st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: r.Nonce})
	if err := s.Update(Endpoints, map[string]types.Resource{"b": cla("b", "10.0.0.3")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(Endpoints, nil, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	r, err = st.Recv()
	if err != nil || len(r.Resources) != 0 || len(r.RemovedResources) != 1 || r.RemovedResources[0] != "a" {
		t.Fatalf("after b changed and a was removed: %v %v; want only a's removal", r, err)
	}
}

// TestPerTypeEDS checks the non-aggregated EDS service, which Envoy uses
// when configured without ADS.
func TestPerTypeEDS(t *testing.T) {
	s, cc := start(t)
	if err := s.Update(Endpoints, map[string]types.Resource{"a": cla("a", "10.0.0.1")}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := endpointservice.NewEndpointDiscoveryServiceClient(cc).StreamEndpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "envoy-1", UserAgentName: "envoy"}, ResourceNames: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil || len(r.Resources) != 1 || r.TypeUrl != resourcev3.EndpointType {
		t.Fatalf("per-type EDS: %v %v", r, err)
	}
}
