package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
)

// grpc calls grpc.health.v1.Health/Check on the pod IP, in plain text as
// kubelet does; SERVING is a Success, any other answer or error a Failure.
func (pr *Prober) grpc(ctx context.Context, g *corev1.GRPCAction, podIP string) (Result, string, error) {
	if g.Port < 1 || g.Port > 65535 {
		return Unknown, "", fmt.Errorf("grpc port %d: %w", g.Port, ErrInvalidPort)
	}
	if podIP == "" {
		return Unknown, "", ErrNoPodIP
	}
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(podIP, strconv.Itoa(int(g.Port))),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(pr.userAgent),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return pr.dial(ctx, "tcp", addr)
		}),
	)
	if err != nil {
		return Unknown, "", fmt.Errorf("grpc probe client: %w", err)
	}
	defer conn.Close()
	var service string
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return Unknown, "", ctx.Err()
		}
		st := status.Convert(err)
		switch st.Code() {
		case codes.Unimplemented:
			return Failure, "this server does not implement the grpc health protocol (grpc.health.v1.Health): " + st.Message(), nil
		case codes.DeadlineExceeded:
			return Failure, "timeout: health rpc did not complete in time", nil
		}
		return Failure, fmt.Sprintf("rpc error: code = %s desc = %s", st.Code(), st.Message()), nil
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus()), nil
	}
	return Success, "", nil
}
