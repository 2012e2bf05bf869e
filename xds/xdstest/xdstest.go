// Package xdstest holds what tests of Shoal's xDS server share: gRPC test
// backends on loopback addresses, grpc-go xDS clients built from a
// bootstrap, and the Service and EndpointSlice objects that point one at
// the other.
package xdstest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/xds"
)

// Backend is a gRPC TestService server on one loopback address. Each call
// holds one of its Workers slots for Delay, so a slow backend also has less
// capacity, as a real overloaded pod does.
type Backend struct {
	testgrpc.UnimplementedTestServiceServer
	Addr  string // ip:port
	IP    string
	calls atomic.Int64
	delay atomic.Int64 // nanoseconds
	slots chan struct{}
	srv   *grpc.Server
}

// SetDelay changes how long each call takes.
func (b *Backend) SetDelay(d time.Duration) { b.delay.Store(int64(d)) }

// Calls is how many calls the backend has answered.
func (b *Backend) Calls() int64 { return b.calls.Load() }

// UnaryCall answers with the backend's address as server_id.
func (b *Backend) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-b.slots }()
	if d := time.Duration(b.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	b.calls.Add(1)
	return &testgrpc.SimpleResponse{ServerId: b.Addr}, nil
}

// StartBackends starts one backend per IP, all on the same free port (an
// EndpointSlice has one port for all its endpoints), each with workers
// concurrent call slots. They stop when the test ends.
func StartBackends(t testing.TB, workers int, ips ...string) (port int, backends []*Backend) {
	t.Helper()
	port, backends, stop, err := NewBackends(workers, ips...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return port, backends
}

// NewBackends is StartBackends for callers without a test (benchmarks):
// stop stops every backend.
func NewBackends(workers int, ips ...string) (port int, backends []*Backend, stop func(), err error) {
	for attempt := 0; attempt < 20; attempt++ {
		lns, err := listenAll(ips)
		if err != nil {
			continue
		}
		port = lns[0].Addr().(*net.TCPAddr).Port
		for i, ln := range lns {
			b := &Backend{Addr: ln.Addr().String(), IP: ips[i], slots: make(chan struct{}, workers), srv: grpc.NewServer()}
			testgrpc.RegisterTestServiceServer(b.srv, b)
			go b.srv.Serve(ln)
			backends = append(backends, b)
		}
		return port, backends, func() {
			for _, b := range backends {
				b.srv.Stop()
			}
		}, nil
	}
	return 0, nil, nil, fmt.Errorf("no port free on all of %v", ips)
}

// listenAll listens on the same port on every IP.
func listenAll(ips []string) ([]net.Listener, error) {
	first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
	if err != nil {
		return nil, err
	}
	lns := []net.Listener{first}
	port := strconv.Itoa(first.Addr().(*net.TCPAddr).Port)
	for _, ip := range ips[1:] {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Bootstrap is a grpc-go xDS bootstrap for the server at addr.
func Bootstrap(addr, nodeID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      addr,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []string{"xds_v3"},
		}},
		"node": map[string]any{"id": nodeID, "locality": map[string]any{}},
	})
	return b
}

// Client is the TestService client Dial returns.
type Client = testgrpc.TestServiceClient

// Dial connects a grpc-go xDS client (its own xDS client, named by nodeID)
// to target, "xds:///<service>.<namespace>.svc.cluster.local:<port>".
func Dial(t testing.TB, xdsAddr, nodeID, target string) testgrpc.TestServiceClient {
	t.Helper()
	cc, err := NewClient(xdsAddr, nodeID, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testgrpc.NewTestServiceClient(cc)
}

// NewClient is Dial for callers without a test; the caller closes the
// connection.
func NewClient(xdsAddr, nodeID, target string) (*grpc.ClientConn, error) {
	rb, err := xds.NewXDSResolverWithConfigForTesting(Bootstrap(xdsAddr, nodeID))
	if err != nil {
		return nil, fmt.Errorf("xds resolver: %w", err)
	}
	cc, err := grpc.NewClient(target, grpc.WithResolvers(rb), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return cc, nil
}

// Call makes one call and returns the backend that answered.
func Call(ctx context.Context, c testgrpc.TestServiceClient, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(false))
	if err != nil {
		return "", err
	}
	return resp.ServerId, nil
}

// Result is what a load run saw.
type Result struct {
	Calls     int
	Errors    int
	ByBackend map[string]int
	Latencies []time.Duration // sorted
	Elapsed   time.Duration
}

// Rate is calls per second over the run.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// Share is the fraction of calls that addr answered.
func (r Result) Share(addr string) float64 {
	if r.Calls == 0 {
		return 0
	}
	return float64(r.ByBackend[addr]) / float64(r.Calls)
}

// Percentile returns the p-th (0..100) latency.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies)-1) * p / 100)
	return r.Latencies[i]
}

func (r Result) String() string {
	return fmt.Sprintf("%d calls, %d errors, p50 %v p99 %v, by backend %v", r.Calls, r.Errors,
		r.Percentile(50).Round(100*time.Microsecond), r.Percentile(99).Round(100*time.Microsecond), r.ByBackend)
}

// Load runs callers goroutines that each make calls back to back until
// total calls are made, recording each call's latency in the client.
func Load(ctx context.Context, c testgrpc.TestServiceClient, callers, total int) Result {
	var (
		mu   sync.Mutex
		res  = Result{ByBackend: map[string]int{}}
		left atomic.Int64
		wg   sync.WaitGroup
	)
	left.Store(int64(total))
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				start := time.Now()
				id, err := Call(ctx, c, 5*time.Second)
				d := time.Since(start)
				mu.Lock()
				res.Calls++
				if err != nil {
					res.Errors++
				} else {
					res.ByBackend[id]++
					res.Latencies = append(res.Latencies, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	sortDurations(res.Latencies)
	return res
}
