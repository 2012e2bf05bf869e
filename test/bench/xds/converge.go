package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/xds/xdstest"
)

// The convergence phase: proxyless grpc-go clients (grpc-go's own xDS
// client and balancers, as in test/e2e's least-loaded test) call three
// backends of which one is 10× slower, through a fresh Service each run;
// the phase records which backend answered each call and the endpoint
// weights the server publishes, per second from the first call.
const (
	convCallers           = 8
	convPort              = 50051
	convFast, convSlow    = 2 * time.Millisecond, 20 * time.Millisecond
	convWorkers           = 2     // concurrent calls per backend: the slow one also has a tenth of the capacity
	convEarly, convSteady = 5, 10 // seconds: "within 5 s", and the steady state from 10 s on
)

// convRun is one run: a policy, fresh backends and a fresh client.
type convRun struct {
	policy string
	// share is the slow backend's share of the calls that ended in each
	// second since the first call; calls counts them.
	share []float64
	calls []int
	// weights are the slow endpoint's published weight relative to the
	// mean of the fast ones', at the end of each second (0 before any).
	weights []float64
	// steadyPushes is how many times the server republished the
	// assignment from convSteady on.
	steadyPushes int
	errors       int
}

// converge runs one policy for secs seconds against t, with backends on
// 127.1.<idx>.1-3 (fresh addresses per run, so no weight history carries
// over from another run).
func (t *target) converge(ctx context.Context, idx int, policy string, secs int) (convRun, error) {
	run := convRun{policy: policy}
	ips := []string{fmt.Sprintf("127.1.%d.1", idx), fmt.Sprintf("127.1.%d.2", idx), fmt.Sprintf("127.1.%d.3", idx)}
	port, backends, stopBackends, err := xdstest.NewBackends(convWorkers, ips...)
	if err != nil {
		return run, err
	}
	defer stopBackends()
	for _, b := range backends {
		b.SetDelay(convFast)
	}
	slow := backends[2]
	slow.SetDelay(convSlow)

	name := fmt.Sprintf("conv-%d", idx)
	ready := map[string]bool{ips[0]: true, ips[1]: true, ips[2]: true}
	if _, err := t.cs.CoreV1().Services(namespace).Create(ctx, xdstest.Service(namespace, name, convPort, policy), metav1.CreateOptions{}); err != nil {
		return run, fmt.Errorf("create service %s: %w", name, err)
	}
	if _, err := t.cs.DiscoveryV1().EndpointSlices(namespace).Create(ctx, xdstest.Slice(namespace, name, port, ready), metav1.CreateOptions{}); err != nil {
		return run, fmt.Errorf("create endpointslice of %s: %w", name, err)
	}
	defer func() {
		bg := context.Background()
		t.cs.CoreV1().Services(namespace).Delete(bg, name, metav1.DeleteOptions{})
		t.cs.DiscoveryV1().EndpointSlices(namespace).Delete(bg, name+"-manual", metav1.DeleteOptions{})
	}()
	cluster := fmt.Sprintf("%s.%s.svc.cluster.local:%d", name, namespace, convPort)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	pushes, err := watchWeights(wctx, t.sh.XDSAddr, cluster, slow.IP)
	if err != nil {
		return run, err
	}
	cc, err := xdstest.NewClient(t.sh.XDSAddr, fmt.Sprintf("bench-conv-%d", idx), "xds:///"+cluster)
	if err != nil {
		return run, err
	}
	defer cc.Close()
	client := testgrpc.NewTestServiceClient(cc)

	// Wait for the client's first successful call (xDS resolved), then
	// run the callers for secs seconds from it.
	var t0 time.Time
	for deadline := time.Now().Add(30 * time.Second); ; {
		start := time.Now()
		if _, err := xdstest.Call(ctx, client, 2*time.Second); err == nil {
			t0 = start
			break
		}
		if time.Now().After(deadline) {
			return run, fmt.Errorf("%s: no call succeeded in 30 s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	end := t0.Add(time.Duration(secs) * time.Second)
	run.share, run.calls = make([]float64, secs), make([]int, secs)
	slowCalls := make([]int, secs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range convCallers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				id, err := xdstest.Call(ctx, client, 5*time.Second)
				s := int(time.Since(t0) / time.Second)
				mu.Lock()
				switch {
				case err != nil:
					run.errors++
				case s < secs:
					run.calls[s]++
					if id == slow.Addr {
						slowCalls[s]++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for s := range secs {
		if run.calls[s] > 0 {
			run.share[s] = float64(slowCalls[s]) / float64(run.calls[s])
		}
	}
	stopWatch()
	run.weights = make([]float64, secs)
	for _, p := range pushes() {
		s := int(p.at.Sub(t0) / time.Second)
		if s >= convSteady && s < secs {
			run.steadyPushes++
		}
		for k := max(s, 0); k < secs; k++ {
			run.weights[k] = p.ratio
		}
	}
	return run, nil
}

// push is one assignment the server sent: when, and the slow endpoint's
// weight over the mean of the others'.
type push struct {
	at    time.Time
	ratio float64
}

// watchWeights follows a cluster's assignment with a raw ADS stream of its
// own (an "envoy" node: it does not report load) and returns a function
// that lists what arrived so far.
func watchWeights(ctx context.Context, addr, cluster, slowIP string) (func() []push, error) {
	cc, err := dial(addr, true)
	if err != nil {
		return nil, err
	}
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err == nil {
		err = st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "bench-conv-watch-" + cluster, UserAgentName: "envoy"}, TypeUrl: edsType, ResourceNames: []string{cluster}})
	}
	if err != nil {
		cc.Close()
		return nil, err
	}
	var mu sync.Mutex
	var got []push
	go func() {
		defer cc.Close()
		for {
			r, err := st.Recv()
			if err != nil {
				return
			}
			at := time.Now()
			for _, res := range r.GetResources() {
				var cla endpointv3.ClusterLoadAssignment
				if proto.Unmarshal(res.GetValue(), &cla) != nil {
					continue
				}
				var slow, others float64
				n := 0
				for _, l := range cla.GetEndpoints() {
					w := float64(l.GetLoadBalancingWeight().GetValue())
					if l.GetLocality().GetSubZone() == slowIP {
						slow = w
					} else {
						others += w
						n++
					}
				}
				if n > 0 && others > 0 {
					if verbose {
						logf("  %s weights: slow %.0f, others %.0f in all", cluster, slow, others)
					}
					mu.Lock()
					got = append(got, push{at, slow / (others / float64(n))})
					mu.Unlock()
				}
			}
			st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: edsType, ResourceNames: []string{cluster}, VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
		}
	}()
	return func() []push {
		mu.Lock()
		defer mu.Unlock()
		return append([]push(nil), got...)
	}, nil
}

// settle is the first second from which the slow backend's share stays at
// or under limit to the end of the run; -1 if the last second is over it.
func (r convRun) settle(limit float64) int {
	s := len(r.share)
	for s > 0 && r.share[s-1] <= limit {
		s--
	}
	if s == len(r.share) {
		return -1
	}
	return s
}

// shareOver is the slow backend's share of the calls in seconds [from, to).
func (r convRun) shareOver(from, to int) float64 {
	var slow, all float64
	for s := from; s < min(to, len(r.share)); s++ {
		slow += r.share[s] * float64(r.calls[s])
		all += float64(r.calls[s])
	}
	if all == 0 {
		return 0
	}
	return slow / all
}

func percents(xs []float64) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.1f", 100*x)
	}
	return out + " %"
}
