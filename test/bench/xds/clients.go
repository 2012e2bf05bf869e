package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

const edsType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

// dial opens a gRPC connection of its own (its own TCP connection), as a
// separate Envoy or gRPC process would have.
func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
}

// waitServing waits until the xDS server's gRPC health service says
// SERVING (the feed has published its first translation).
func waitServing(ctx context.Context, addr string, timeout time.Duration) error {
	cc, err := dial(addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	h := healthpb.NewHealthClient(cc)
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		r, err := h.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("xDS server at %s not SERVING after %v: %v %v", addr, timeout, r.GetStatus(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probe is one expected change: every active client should receive an EDS
// response carrying marker (an endpoint address only the change
// introduced). It records the first and last arrival.
type probe struct {
	gen         int64
	marker      []byte
	want        int64
	got         atomic.Int64
	first, last atomic.Int64 // unix nanoseconds
	done        chan struct{}
}

func newProbe(gen int64, ip string, want int) *probe {
	// SocketAddress.address is field 2, a string: tag 0x12, then its
	// length, then the bytes. With the length in front, "10.0.0.1" cannot
	// match inside "10.0.0.12".
	m := append([]byte{0x12, byte(len(ip))}, ip...)
	return &probe{gen: gen, marker: m, want: int64(want), done: make(chan struct{})}
}

func (p *probe) arrive(at time.Time) {
	ns := at.UnixNano()
	for {
		cur := p.last.Load()
		if cur >= ns || p.last.CompareAndSwap(cur, ns) {
			break
		}
	}
	for {
		cur := p.first.Load()
		if (cur != 0 && cur <= ns) || p.first.CompareAndSwap(cur, ns) {
			break
		}
	}
	if p.got.Add(1) == p.want {
		close(p.done)
	}
}

// matches reports whether a response carries the marker. It looks at the
// serialized resources rather than unmarshalling them, so 1000 clients on
// one core cost little next to the server.
func (p *probe) matches(resp *discoveryv3.DiscoveryResponse) bool {
	for _, r := range resp.GetResources() {
		if bytes.Contains(r.GetValue(), p.marker) {
			return true
		}
	}
	return false
}

// client is one ADS stream with its own connection and node id that
// subscribes to EDS for some clusters and ACKs every response.
type client struct {
	id     int
	node   *corev3.Node
	names  []string
	cc     *grpc.ClientConn
	cancel context.CancelFunc
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient

	eds     atomic.Int64 // EDS responses received
	seenGen int64        // the last probe this client matched (recv goroutine only)
	ready   chan struct{}
	closed  chan struct{}
	err     error // why the stream ended (set before closed)
}

// fleet is the connected clients and the probe they report to.
type fleet struct {
	addr    string
	mu      sync.Mutex
	clients []*client
	probe   atomic.Pointer[probe]
}

// connect opens client id, subscribes it to names and waits for its first
// response.
func (f *fleet) connect(ctx context.Context, id int, names []string) (*client, error) {
	ua := "envoy"
	if id%2 == 1 {
		ua = "gRPC Go"
	}
	c := &client{
		id:    id,
		node:  &corev3.Node{Id: fmt.Sprintf("bench-xds-%04d", id), Cluster: "bench", UserAgentName: ua},
		names: names, ready: make(chan struct{}), closed: make(chan struct{}),
	}
	cc, err := dial(f.addr)
	if err != nil {
		return nil, err
	}
	c.cc = cc
	sctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.stream, err = discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(sctx)
	if err == nil {
		// Like Envoy, the node goes in the first request only.
		err = c.stream.Send(&discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: edsType, ResourceNames: names})
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("client %d: %w", id, err)
	}
	go c.run(f)
	select {
	case <-c.ready:
	case <-c.closed:
		c.close()
		return nil, fmt.Errorf("client %d: stream ended before the first response: %w", id, c.err)
	case <-time.After(30 * time.Second):
		c.close()
		return nil, fmt.Errorf("client %d: no response in 30 s", id)
	case <-ctx.Done():
		c.close()
		return nil, ctx.Err()
	}
	f.mu.Lock()
	f.clients = append(f.clients, c)
	f.mu.Unlock()
	return c, nil
}

func (c *client) run(f *fleet) {
	defer close(c.closed)
	first := true
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			c.err = err
			return
		}
		now := time.Now()
		if resp.GetTypeUrl() == edsType {
			c.eds.Add(1)
			if p := f.probe.Load(); p != nil && c.seenGen != p.gen && p.matches(resp) {
				c.seenGen = p.gen
				p.arrive(now)
			}
		}
		err = c.stream.Send(&discoveryv3.DiscoveryRequest{
			VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(),
			TypeUrl: resp.GetTypeUrl(), ResourceNames: c.names,
		})
		if err != nil {
			c.err = err
			return
		}
		if first {
			first = false
			close(c.ready)
		}
	}
}

func (c *client) close() {
	c.cancel()
	c.cc.Close()
}

// active is the clients still connected, in connection order.
func (f *fleet) active() []*client {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*client(nil), f.clients...)
}

// keep closes every client but the first n and waits (10 s at most) for
// their streams to end.
func (f *fleet) keep(n int) {
	f.mu.Lock()
	drop := f.clients[min(n, len(f.clients)):]
	f.clients = f.clients[:min(n, len(f.clients))]
	f.mu.Unlock()
	for _, c := range drop {
		c.close()
	}
	deadline := time.After(10 * time.Second)
	for _, c := range drop {
		select {
		case <-c.closed:
		case <-deadline:
			return
		}
	}
}

// alive is an error if any active client's stream has ended.
func (f *fleet) alive() error {
	for _, c := range f.active() {
		select {
		case <-c.closed:
			return fmt.Errorf("client %d's stream ended: %v", c.id, c.err)
		default:
		}
	}
	return nil
}

// waitEDS subscribes one client (not part of the fleet) to every name in
// want and waits until each ClusterLoadAssignment lists exactly want[name]
// healthy endpoints, or timeout. It ACKs as it goes and disconnects at the
// end, so its memory on the server is gone before anything is measured.
func waitEDS(ctx context.Context, addr string, want map[string]int, timeout time.Duration) error {
	cc, err := dial(addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	node := &corev3.Node{Id: "bench-xds-loader", UserAgentName: "envoy"}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: edsType, ResourceNames: names}); err != nil {
		return err
	}
	have := map[string]int{}
	for {
		resp, err := stream.Recv()
		if err != nil {
			complete := 0
			for n, w := range want {
				if have[n] == w {
					complete++
				}
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, io.EOF) {
				return fmt.Errorf("%d of %d ClusterLoadAssignments complete after %v", complete, len(want), timeout)
			}
			return fmt.Errorf("%d of %d ClusterLoadAssignments complete: %w", complete, len(want), err)
		}
		for _, r := range resp.GetResources() {
			var cla endpointv3.ClusterLoadAssignment
			if err := proto.Unmarshal(r.GetValue(), &cla); err != nil {
				return fmt.Errorf("unmarshal ClusterLoadAssignment: %w", err)
			}
			n := 0
			for _, l := range cla.GetEndpoints() {
				for _, e := range l.GetLbEndpoints() {
					if e.GetHealthStatus() == corev3.HealthStatus_HEALTHY {
						n++
					}
				}
			}
			have[cla.GetClusterName()] = n
		}
		complete := true
		for n, w := range want {
			if have[n] != w {
				complete = false
				break
			}
		}
		if complete {
			return nil
		}
		err = stream.Send(&discoveryv3.DiscoveryRequest{VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), TypeUrl: edsType, ResourceNames: names})
		if err != nil {
			return err
		}
	}
}
