package probe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// TestDialHook: httpGet, tcpSocket and grpc probes all connect through
// Options.Dial (a node agent's way to dial from its node's namespace). The
// pod IP is never dialed directly: the hook sends every connection to the
// real servers, so a probe that bypassed it would time out.
func TestDialHook(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	grpcPort := startGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, health.NewServer()) })
	real := map[string]string{ // port asked → where it really is
		"8080": srv.Listener.Addr().String(),
		"9090": "127.0.0.1:" + strconv.Itoa(int(grpcPort)),
	}
	const podIP = "203.0.113.7" // TEST-NET-3: nothing answers there
	var (
		mu     sync.Mutex
		dialed = map[string]int{}
	)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(address)
		mu.Lock()
		dialed[address]++
		mu.Unlock()
		if host != podIP {
			t.Errorf("dialed %s, want the pod IP", address)
		}
		return probe.DialContext(ctx, network, real[port])
	}
	m := probe.New(t.Context(), probe.Options{Version: "test", Second: 20 * time.Millisecond, Dial: dial})
	t.Cleanup(m.Close)

	handlers := map[string]corev1.ProbeHandler{
		"http": {HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
		"tcp":  {TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		"grpc": {GRPC: &corev1.GRPCAction{Port: 9090}},
	}
	for name, h := range handlers {
		spec := corev1.Container{Name: name, ReadinessProbe: &corev1.Probe{ProbeHandler: h, PeriodSeconds: 1}}
		if err := m.Add(probe.Container{PodUID: "pod-1", PodIP: podIP, Spec: &spec, ID: "run-1"}); err != nil {
			t.Fatal(err)
		}
	}
	ready := map[string]bool{}
	for len(ready) < len(handlers) {
		u := nextUpdate(t, m)
		if u.Kind != probe.Readiness || u.Result != probe.Success {
			t.Fatalf("update %+v, want readiness success", u)
		}
		ready[u.Container] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if dialed[podIP+":8080"] < 2 || dialed[podIP+":9090"] < 1 {
		t.Errorf("dialed %v; want the pod IP's 8080 by httpGet and tcpSocket and 9090 by grpc", dialed)
	}
}
