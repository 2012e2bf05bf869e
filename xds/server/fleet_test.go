package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The client fleet of BenchmarkFanout runs in a child process (this test
// binary, re-executed with fleetEnv set), so that everything the benchmark
// reads from its own process — CPU time, system calls, allocations, heap
// and goroutine stacks — is the server's alone.
//
// The child connects n clients, each on its own gRPC connection (its own
// TCP connection, as separate Envoys or gRPC processes have), half of them
// "envoy" (and Envoy-like on the wire, see envoyLike), half "gRPC Go" with
// grpc-go's default dial options, as in `make bench-xds`; it subscribes
// each to EDS for the names given and ACKs every response. It prints "ready" once every client has its first response.
// Then, for each line "expect <ip>" on stdin, it prints "ok", and "done"
// once every client has received an assignment carrying that address.
const fleetEnv = "SHOAL_XDS_FANOUT_FLEET" // "<addr> <n> <sotw|delta> <name,name,...>"

func runFleet(spec string) error {
	f := strings.Fields(spec)
	if len(f) != 4 {
		return fmt.Errorf("%s: want 4 fields, got %q", fleetEnv, spec)
	}
	addr, mode, names := f[0], f[2], strings.Split(f[3], ",")
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return fmt.Errorf("%s: client count: %w", fleetEnv, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fl := &fleet{n: int64(n), out: bufio.NewWriter(os.Stdout)}
	var ready sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		ready.Add(1)
		sem <- struct{}{}
		go func() {
			err := fl.client(ctx, addr, mode, fmt.Sprintf("fleet-%04d", i), i%2 == 0, names, func() { ready.Done(); <-sem })
			errs <- fmt.Errorf("client %d: %w", i, err)
		}()
	}
	waited := make(chan struct{})
	go func() { ready.Wait(); close(waited) }()
	select {
	case <-waited:
	case err := <-errs:
		return err
	}
	fl.say("ready")
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			ip, ok := strings.CutPrefix(in.Text(), "expect ")
			if !ok {
				continue
			}
			m := append([]byte{0x12, byte(len(ip))}, ip...) // SocketAddress.address, as in the bench
			fl.got.Store(0)
			fl.marker.Store(&m)
			fl.say("ok")
		}
		cancel()
	}()
	select {
	case err := <-errs:
		if ctx.Err() != nil {
			return nil // stdin closed: the benchmark is over
		}
		return err
	case <-ctx.Done():
		return nil
	}
}

type fleet struct {
	n      int64
	marker atomic.Pointer[[]byte]
	got    atomic.Int64
	mu     sync.Mutex
	out    *bufio.Writer
}

func (fl *fleet) say(line string) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.out.WriteString(line + "\n")
	fl.out.Flush()
}

// seen counts a client's response that carries the expected address
// (once per client and expectation: reported is the last it counted).
func (fl *fleet) seen(reported **[]byte, values [][]byte) {
	m := fl.marker.Load()
	if m == nil || m == *reported {
		return
	}
	for _, v := range values {
		if bytes.Contains(v, *m) {
			*reported = m
			if fl.got.Add(1) == fl.n {
				fl.say("done")
			}
			return
		}
	}
}

// envoyLike makes a grpc-go connection behave like Envoy's HTTP/2 client
// on the wire: fixed flow-control windows, so no BDP ping follows each
// response (grpc-go sends one per received message; Envoy sends none).
var envoyLike = []grpc.DialOption{
	grpc.WithStaticStreamWindowSize(1 << 24),
	grpc.WithStaticConnWindowSize(1 << 24),
}

func (fl *fleet) client(ctx context.Context, addr, mode, id string, envoy bool, names []string, onFirst func()) error {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if envoy {
		opts = append(opts, envoyLike...)
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return err
	}
	defer cc.Close()
	node := &corev3.Node{Id: id, UserAgentName: "gRPC Go"}
	if envoy {
		node.UserAgentName = "envoy"
	}
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(cc)
	var reported *[]byte // the last expectation this client met
	if mode == "delta" {
		st, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: names}); err != nil {
			return err
		}
		for first := true; ; first = false {
			r, err := st.Recv()
			if err != nil {
				return err
			}
			values := make([][]byte, 0, len(r.GetResources()))
			for _, x := range r.GetResources() {
				values = append(values, x.GetResource().GetValue())
			}
			fl.seen(&reported, values)
			if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}); err != nil {
				return err
			}
			if first {
				onFirst()
			}
		}
	}
	st, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.EndpointType, ResourceNames: names}); err != nil {
		return err
	}
	for first := true; ; first = false {
		r, err := st.Recv()
		if err != nil {
			return err
		}
		values := make([][]byte, 0, len(r.GetResources()))
		for _, x := range r.GetResources() {
			values = append(values, x.GetValue())
		}
		fl.seen(&reported, values)
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResourceNames: names, VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()}); err != nil {
			return err
		}
		if first {
			onFirst()
		}
	}
}
