package l7

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/shoalmesh/shoal/proxy/proxytest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/shoalmesh/shoal/proxy/balancer"
)

// testService answers with its name and echoes requested statuses.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (s *testService) UnaryCall(_ context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if st := req.GetResponseStatus(); st != nil {
		return nil, status.Error(codes.Code(st.GetCode()), st.GetMessage())
	}
	return &testgrpc.SimpleResponse{Hostname: s.name}, nil
}

func (s *testService) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := req.GetPayload()
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: p}); err != nil {
			return err
		}
	}
}

func startGRPCBackend(t *testing.T, name string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, &testService{name: name})
	var wg sync.WaitGroup
	wg.Go(func() { s.Serve(ln) })
	t.Cleanup(func() {
		s.Stop()
		wg.Wait()
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

func TestGRPCOverH2CSpreadPerRPC(t *testing.T) {
	proxytest.NoLeaks(t)
	var addrs []netip.AddrPort
	for _, n := range []string{"a", "b", "c"} {
		addrs = append(addrs, startGRPCBackend(t, n))
	}
	_, ln := startProxy(t, newCluster(balancer.Options{}, addrs...))
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := testgrpc.NewTestServiceClient(cc)
	ctx := t.Context()

	seen := map[string]int{}
	for range 60 {
		res, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		if err != nil {
			t.Fatal(err)
		}
		seen[res.GetHostname()]++
	}
	if len(seen) != 3 {
		t.Errorf("RPCs by backend %v, want all three", seen)
	}
	if n := ln.accepted.Load(); n != 1 {
		t.Errorf("proxy accepted %d connections, want 1", n)
	}

	// A status travels in the trailers: they must come through.
	_, err = client.UnaryCall(ctx, &testgrpc.SimpleRequest{
		ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"}})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
		t.Errorf("status through the proxy: %v, want NotFound \"no such thing\"", err)
	}

	// A bidirectional stream: each message answered before the next is sent.
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		want := []byte{byte(i)}
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: want}}); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got := res.GetPayload().GetBody(); string(got) != string(want) {
			t.Fatalf("stream message %d: got %v", i, got)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("end of stream: %v, want EOF", err)
	}
}

func TestGRPCDeadEndpointRetried(t *testing.T) {
	proxytest.NoLeaks(t)
	live := startGRPCBackend(t, "live")
	_, ln := startProxy(t, newCluster(balancer.Options{ConsecutiveFailures: -1}, deadAddr(t), deadAddr(t), live))
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := testgrpc.NewTestServiceClient(cc)
	for range 20 {
		res, err := client.UnaryCall(t.Context(), &testgrpc.SimpleRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if res.GetHostname() != "live" {
			t.Fatalf("answered by %q", res.GetHostname())
		}
	}
}

func TestGRPCNoEndpointIsUnavailable(t *testing.T) {
	proxytest.NoLeaks(t)
	_, ln := startProxy(t, newCluster(balancer.Options{}))
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = testgrpc.NewTestServiceClient(cc).UnaryCall(t.Context(), &testgrpc.SimpleRequest{})
	if code := status.Code(err); code != codes.Unavailable {
		t.Errorf("RPC with no endpoint: %v, want Unavailable", err)
	}
}
