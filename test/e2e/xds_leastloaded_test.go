package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// registerEcho creates a selector-less Service with the given lb policy and
// a ready EndpointSlice of ips on port.
func registerEcho(t *testing.T, cs kubernetes.Interface, name, policy string, port int, ips ...string) {
	t.Helper()
	ctx := t.Context()
	if _, err := cs.CoreV1().Services("default").Create(ctx, xdstest.Service("default", name, 50051, policy), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := map[string]bool{}
	for _, ip := range ips {
		ready[ip] = true
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, xdstest.Slice("default", name, port, ready), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// dialReady dials a service and waits until calls reach all n backends.
func dialReady(t *testing.T, xdsAddr, node, service string, n int) xdstest.Client {
	t.Helper()
	c := xdstest.Dial(t, xdsAddr, node, "xds:///"+service+".default.svc.cluster.local:50051")
	seen := map[string]bool{}
	testenv.Eventually(t, 20*time.Second, service+" reaches every backend", func() error {
		id, err := xdstest.Call(t.Context(), c, 2*time.Second)
		if err != nil {
			return err
		}
		seen[id] = true
		if len(seen) < n {
			return fmt.Errorf("reached %d of %d", len(seen), n)
		}
		return nil
	})
	return c
}

// TestXDSLeastLoaded compares, in one run, the three lb policies Shoal
// serves to grpc-go over three backends of which one is 10× slower (and so
// has a tenth of the capacity): round robin, per-client least request, and
// the default least-loaded (cluster-wide weights from LRS reports).
func TestXDSLeastLoaded(t *testing.T) {
	s := clustertest.Start(t, clustertest.Options{})
	cs := s.Clientset(t)
	port, backends := xdstest.StartBackends(t, 2, "127.0.0.5", "127.0.0.6", "127.0.0.7")
	const fast, slowDelay = 2 * time.Millisecond, 20 * time.Millisecond
	for _, b := range backends {
		b.SetDelay(fast)
	}
	slow := backends[2]
	slow.SetDelay(slowDelay)
	ips := []string{"127.0.0.5", "127.0.0.6", "127.0.0.7"}
	for _, p := range []string{"round-robin", "least-request", "least-loaded"} {
		registerEcho(t, cs, "echo-"+p, p, port, ips...)
	}
	const callers, calls = 8, 1200
	ctx := t.Context()
	results := map[string]xdstest.Result{}
	for _, p := range []string{"round-robin", "least-request"} {
		c := dialReady(t, s.XDSAddr, "ll-"+p, "echo-"+p, 3)
		results[p] = xdstest.Load(ctx, c, callers, calls)
	}
	// The weights need LRS reports (every second) to build up: warm up in
	// bounded rounds until the slow backend's share settles.
	ll := dialReady(t, s.XDSAddr, "ll-least-loaded", "echo-least-loaded", 3)
	for round := 0; round < 20; round++ {
		r := xdstest.Load(ctx, ll, callers, 300)
		t.Logf("least-loaded warm-up round %d: slow share %.1f%%", round, 100*r.Share(slow.Addr))
		if r.Share(slow.Addr) < 0.12 {
			break
		}
	}
	results["least-loaded"] = xdstest.Load(ctx, ll, callers, calls)

	for _, p := range []string{"round-robin", "least-request", "least-loaded"} {
		r := results[p]
		t.Logf("%-13s slow backend %.1f%% of calls, p50 %v, p99 %v, %.0f calls/s, errors %d", p, 100*r.Share(slow.Addr),
			r.Percentile(50).Round(100*time.Microsecond), r.Percentile(99).Round(100*time.Microsecond), r.Rate(), r.Errors)
		if r.Errors > 0 {
			t.Errorf("%s: %d calls failed", p, r.Errors)
		}
	}
	lr, ll2 := results["least-request"], results["least-loaded"]
	if got := ll2.Share(slow.Addr); got > 0.2 {
		t.Errorf("least-loaded sent %.1f%% of calls to the slow backend; want well under a third", 100*got)
	}
	if got := lr.Share(slow.Addr); got > 0.3 {
		t.Errorf("least-request sent %.1f%% of calls to the slow backend; want under a third", 100*got)
	}
	// The latencies are logged, not asserted: on a busy machine (make
	// test runs packages side by side) a p99 measures the machine.
	if ll2.Share(slow.Addr) >= lr.Share(slow.Addr)/2 {
		t.Errorf("least-loaded sent the slow backend %.1f%% of calls, least-request %.1f%%; want least-loaded far below",
			100*ll2.Share(slow.Addr), 100*lr.Share(slow.Addr))
	}
}

// TestXDSClusterWideWeights shows the cluster-wide loop: one client floods
// backend A (through a service whose only endpoint is A); a second client
// of a service over A, B and C, which itself sends little, moves its
// traffic off A once the flooder's load reports arrive, and back after.
func TestXDSClusterWideWeights(t *testing.T) {
	s := clustertest.Start(t, clustertest.Options{})
	cs := s.Clientset(t)
	port, backends := xdstest.StartBackends(t, 256, "127.0.0.8", "127.0.0.9", "127.0.0.10")
	for _, b := range backends {
		b.SetDelay(5 * time.Millisecond) // A is never slower than B or C
	}
	a := backends[0]
	registerEcho(t, cs, "shared", "", port, "127.0.0.8", "127.0.0.9", "127.0.0.10")
	registerEcho(t, cs, "flood", "", port, "127.0.0.8")
	observer := dialReady(t, s.XDSAddr, "observer", "shared", 3)
	flooder := dialReady(t, s.XDSAddr, "flooder", "flood", 1)

	floodShifts(t, observer, flooder, a.Addr)
}

// floodShifts floods backend a through flooder and checks that observer,
// which sends little itself, moves off a while the flood lasts and comes
// back after it.
func floodShifts(t *testing.T, observer, flooder xdstest.Client, a string) {
	t.Helper()
	ctx := t.Context()
	before := xdstest.Load(ctx, observer, 2, 300)
	t.Logf("before the flood: A gets %.1f%% of the observer's calls", 100*before.Share(a))

	floodCtx, stopFlood := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); xdstest.Load(floodCtx, flooder, 48, 1<<30) }()
	start := time.Now()
	var shifted time.Duration
	for time.Since(start) < 20*time.Second {
		r := xdstest.Load(ctx, observer, 2, 200)
		if r.Share(a) < 0.1 {
			shifted = time.Since(start)
			t.Logf("during the flood: A gets %.1f%% of the observer's calls (%v after the flood began)", 100*r.Share(a), shifted.Round(100*time.Millisecond))
			break
		}
	}
	stopFlood()
	wg.Wait()
	if shifted == 0 {
		t.Fatal("the observer kept sending to A 20 s into the flood")
	}
	// Once the flood stops A is idle again and wins its share back: the
	// weights are bounded, so A was never weighted to zero. The weigher
	// lets a pod's latency fall back over ~25 load periods (xds/load's
	// flood test): allow twice that on a loaded machine.
	stopped := time.Now()
	testenv.Eventually(t, 60*time.Second, "A regains traffic after the flood", func() error {
		r := xdstest.Load(ctx, observer, 2, 200)
		if r.Share(a) < 0.2 {
			return fmt.Errorf("A gets %.1f%%", 100*r.Share(a))
		}
		t.Logf("after the flood: A gets %.1f%% again (%v after it stopped)", 100*r.Share(a), time.Since(stopped).Round(100*time.Millisecond))
		return nil
	})
}
