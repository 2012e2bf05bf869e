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

// protocol is how a fleet's clients speak xDS.
type protocol int

const (
	sotw  protocol = iota // StreamAggregatedResources, ACK with version and nonce
	delta                 // DeltaAggregatedResources, ACK with nonce
	numProtocols
)

func (p protocol) String() string { return [...]string{"state of the world", "delta"}[p] }

// dial opens a gRPC connection of its own (its own TCP connection), as a
// separate Envoy or gRPC process would have. An "envoy" client's
// connection keeps fixed flow-control windows, as Envoy's HTTP/2 client
// does: grpc-go's default (dynamic windows) follows every message it
// receives with a BDP ping the server must answer, which Envoy never sends.
func dial(addr string, envoy bool) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}
	if envoy {
		opts = append(opts, grpc.WithStaticStreamWindowSize(1<<24), grpc.WithStaticConnWindowSize(1<<24))
	}
	return grpc.NewClient(addr, opts...)
}

// waitServing waits until the xDS server's gRPC health service says
// SERVING (the feed has published its first translation).
func waitServing(ctx context.Context, addr string, timeout time.Duration) error {
	cc, err := dial(addr, false)
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

// probe is one expected change: every client of a fleet should receive an
// EDS response whose assignment for cluster carries the new address and
// no longer the old one. It records the first and last arrival.
type probe struct {
	gen              int64
	cluster          string
	marker           []byte // the new address as it appears in the encoding
	newIP, oldIP     string
	endpoints        int // healthy endpoints the assignment must list
	want             int64
	got, wrong       atomic.Int64
	first, last      atomic.Int64 // unix nanoseconds
	done             chan struct{}
	firstWrongReason atomic.Pointer[string]
}

func newProbe(gen int64, cluster, newIP, oldIP string, endpoints, want int) *probe {
	// SocketAddress.address is field 2, a string: tag 0x12, then its
	// length, then the bytes. With the length in front, "10.0.0.1" cannot
	// match inside "10.0.0.12".
	m := append([]byte{0x12, byte(len(newIP))}, newIP...)
	return &probe{gen: gen, cluster: cluster, marker: m, newIP: newIP, oldIP: oldIP, endpoints: endpoints, want: int64(want), done: make(chan struct{})}
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

// matches picks the resource carrying the marker. It looks at the
// serialized bytes first, so 1000 clients on one core cost little next to
// the server; the one that matches is then checked whole (check).
func (p *probe) matches(values [][]byte) []byte {
	for _, v := range values {
		if bytes.Contains(v, p.marker) {
			return v
		}
	}
	return nil
}

// check unmarshals the assignment that carried the marker and counts it
// wrong unless it is the probe's cluster with exactly the expected healthy
// endpoints, the new address among them and the old one gone.
func (p *probe) check(value []byte) {
	var cla endpointv3.ClusterLoadAssignment
	reason := ""
	if err := proto.Unmarshal(value, &cla); err != nil {
		reason = fmt.Sprintf("unmarshal: %v", err)
	} else if cla.GetClusterName() != p.cluster {
		reason = fmt.Sprintf("cluster %q, want %q", cla.GetClusterName(), p.cluster)
	} else {
		n, hasNew, hasOld := 0, false, false
		for _, l := range cla.GetEndpoints() {
			for _, e := range l.GetLbEndpoints() {
				if e.GetHealthStatus() != corev3.HealthStatus_HEALTHY {
					continue
				}
				n++
				switch e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress() {
				case p.newIP:
					hasNew = true
				case p.oldIP:
					hasOld = true
				}
			}
		}
		if n != p.endpoints || !hasNew || hasOld {
			reason = fmt.Sprintf("%d healthy endpoints (want %d), new %s there: %v, old %s there: %v", n, p.endpoints, p.newIP, hasNew, p.oldIP, hasOld)
		}
	}
	if reason != "" {
		p.wrong.Add(1)
		p.firstWrongReason.CompareAndSwap(nil, &reason)
	}
}

// client is one ADS stream with its own connection and node id that
// subscribes to EDS for some clusters and ACKs every response.
type client struct {
	id     int
	proto  protocol
	node   *corev3.Node
	names  []string
	cc     *grpc.ClientConn
	cancel context.CancelFunc
	sotw   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	delta  discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient

	eds     atomic.Int64 // EDS responses received
	seenGen int64        // the last probe this client matched (recv goroutine only)
	ready   chan struct{}
	closed  chan struct{}
	err     error // why the stream ended (set before closed)
}

// fleet is one protocol's connected clients and the probe they report to.
type fleet struct {
	addr    string
	proto   protocol
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
		id: id, proto: f.proto,
		node:  &corev3.Node{Id: fmt.Sprintf("bench-xds-%s-%04d", [...]string{"sotw", "delta"}[f.proto], id), Cluster: "bench", UserAgentName: ua},
		names: names, ready: make(chan struct{}), closed: make(chan struct{}),
	}
	cc, err := dial(f.addr, ua == "envoy")
	if err != nil {
		return nil, err
	}
	c.cc = cc
	sctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(cc)
	// Like Envoy, the node goes in the first request only.
	if f.proto == delta {
		c.delta, err = ads.DeltaAggregatedResources(sctx)
		if err == nil {
			err = c.delta.Send(&discoveryv3.DeltaDiscoveryRequest{Node: c.node, TypeUrl: edsType, ResourceNamesSubscribe: names})
		}
	} else {
		c.sotw, err = ads.StreamAggregatedResources(sctx)
		if err == nil {
			err = c.sotw.Send(&discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: edsType, ResourceNames: names})
		}
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

// recv returns the next response's type and resource bytes, and the
// function that ACKs it.
func (c *client) recv() (typeURL string, values [][]byte, ack func() error, err error) {
	if c.proto == delta {
		r, err := c.delta.Recv()
		if err != nil {
			return "", nil, nil, err
		}
		for _, x := range r.GetResources() {
			values = append(values, x.GetResource().GetValue())
		}
		return r.GetTypeUrl(), values, func() error {
			return c.delta.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()})
		}, nil
	}
	r, err := c.sotw.Recv()
	if err != nil {
		return "", nil, nil, err
	}
	for _, x := range r.GetResources() {
		values = append(values, x.GetValue())
	}
	return r.GetTypeUrl(), values, func() error {
		return c.sotw.Send(&discoveryv3.DiscoveryRequest{
			VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce(),
			TypeUrl: r.GetTypeUrl(), ResourceNames: c.names,
		})
	}, nil
}

func (c *client) run(f *fleet) {
	defer close(c.closed)
	first := true
	for {
		typeURL, values, ack, err := c.recv()
		if err != nil {
			c.err = err
			return
		}
		now := time.Now()
		if typeURL == edsType {
			c.eds.Add(1)
			if p := f.probe.Load(); p != nil && c.seenGen != p.gen {
				if v := p.matches(values); v != nil {
					c.seenGen = p.gen
					p.arrive(now)
					p.check(v)
				}
			}
		}
		if err := ack(); err != nil {
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

// closeAll closes every client and waits (10 s at most) for their streams
// to end.
func (f *fleet) closeAll() {
	f.mu.Lock()
	drop := f.clients
	f.clients = nil
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
			return fmt.Errorf("%s client %d's stream ended: %v", f.proto, c.id, c.err)
		default:
		}
	}
	return nil
}

// waitEDS subscribes one client (not part of a fleet) to every name in
// want and waits until each ClusterLoadAssignment lists exactly want[name]
// healthy endpoints, or timeout. It ACKs as it goes and disconnects at the
// end, so its memory on the server is gone before anything is measured.
func waitEDS(ctx context.Context, addr string, want map[string]int, timeout time.Duration) error {
	cc, err := dial(addr, true)
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
