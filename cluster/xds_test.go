package cluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// TestUpServesXDS checks the xDS server's health (SERVING once the registry
// has synced) and that its metrics are on the API server's /metrics.
func TestUpServesXDS(t *testing.T) {
	s := clustertest.Start(t, clustertest.Options{})
	cc, err := grpc.NewClient(s.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	testenv.Eventually(t, 10*time.Second, "xDS health SERVING", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.Status != healthpb.HealthCheckResponse_SERVING {
			err = errStatus(resp.Status.String())
		}
		return err
	})
	body, err := s.Clientset(t).CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"shoal_xds_resources", "shoal_xds_build_duration_seconds", "shoal_xds_lrs_streams"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

type errStatus string

func (e errStatus) Error() string { return "health: " + string(e) }
