package probe_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	corev1 "k8s.io/api/core/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// startGRPC serves gRPC on a local port with register's services.
func startGRPC(t *testing.T, register func(*grpc.Server)) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// slowHealth never answers a Check of service "slow", and answers one of
// "ua" with SERVING only if the caller's User-Agent is the probe's.
type slowHealth struct {
	healthpb.UnimplementedHealthServer
}

func (slowHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	switch req.Service {
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	case "ua":
		md, _ := metadata.FromIncomingContext(ctx)
		if ua := md.Get("user-agent"); len(ua) == 1 && strings.HasPrefix(ua[0], "shoal-probe/test ") {
			return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
		}
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_UNKNOWN}, nil
	}
	return nil, errors.New("unexpected service")
}

func TestGRPC(t *testing.T) {
	t.Parallel()
	hs := health.NewServer() // "" is SERVING
	hs.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	standard := startGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, hs) })
	custom := startGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, slowHealth{}) })
	noHealth := startGRPC(t, func(*grpc.Server) {})
	closed := int32(testenv.FreePort(t))

	cases := []struct {
		name    string
		port    int32
		service string
		podIP   string
		want    probe.Result
		wantErr error
		output  string
	}{
		{name: "server health", port: standard, want: probe.Success},
		{name: "service serving", port: standard, service: "up", want: probe.Success},
		{name: "service not serving", port: standard, service: "down", want: probe.Failure, output: "NOT_SERVING"},
		{name: "unknown service", port: standard, service: "what", want: probe.Failure, output: "NotFound"},
		{name: "user agent", port: custom, service: "ua", want: probe.Success},
		{name: "hangs past the deadline", port: custom, service: "slow", want: probe.Failure, output: "timeout"},
		{name: "no health service", port: noHealth, want: probe.Failure, output: "does not implement"},
		{name: "connection refused", port: closed, want: probe.Failure, output: "Unavailable"},
		{name: "port 0", port: 0, want: probe.Unknown, wantErr: probe.ErrInvalidPort},
		{name: "no pod IP", port: standard, podIP: "-", want: probe.Unknown, wantErr: probe.ErrNoPodIP},
	}
	pr := probe.NewProber("test")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := probe.Container{PodIP: "127.0.0.1", Spec: &corev1.Container{Name: "api"}}
			if tc.podIP == "-" {
				c.PodIP = ""
			}
			g := &corev1.GRPCAction{Port: tc.port}
			if tc.service != "" {
				g.Service = &tc.service
			}
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			if tc.output != "timeout" {
				ctx = t.Context() // the default timeoutSeconds of 1 s
			}
			got, out, err := pr.Probe(ctx, &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: g}}, &c)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Probe = %v, %q, %v; want %v, %v", got, out, err, tc.want, tc.wantErr)
			}
			if !strings.Contains(out, tc.output) {
				t.Errorf("output %q does not contain %q", out, tc.output)
			}
		})
	}
}
