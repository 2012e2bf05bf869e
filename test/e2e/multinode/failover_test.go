package multinode

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
)

// The failover scenario: a Deployment "web" behind a ClusterIP Service
// "web" (followed over xDS) and a headless Service "web-dns" (followed in
// DNS), over two nodes; one node's agent is SIGKILLed.
const (
	failoverReplicas = 4
	edsName          = "web.default.svc.cluster.local:80"
	dnsName          = "web-dns.default.svc.cluster.local."
)

// failoverTimes are measured from the SIGKILL.
type failoverTimes struct {
	notReady time.Duration // the node NotReady in the API
	slices   time.Duration // no ready endpoint on the node in the EndpointSlices
	dns      time.Duration // no address on the node in the DNS answer
	eds      time.Duration // no HEALTHY endpoint on the node in the xDS assignment
	evicted  time.Duration // no pod bound to the node
	replaced time.Duration // all replicas Running and Ready on the other node
}

// failoverSetup starts the Deployment and its Services, waits for every pod
// to be Ready and in the EndpointSlices, DNS and EDS, and returns the pods.
func failoverSetup(tb testing.TB, c *nodeagenttest.Cluster) []corev1.Pod {
	tb.Helper()
	cs := c.Client
	createDeployment(tb, cs, "web", failoverReplicas)
	port := []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: port}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-dns"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: port, ClusterIP: corev1.ClusterIPNone}},
	} {
		if _, err := cs.CoreV1().Services("default").Create(tb.Context(), svc, metav1.CreateOptions{}); err != nil {
			tb.Fatal(err)
		}
	}
	pods := waitReadyPods(tb, cs, "app=web", failoverReplicas, 60*time.Second)
	eds := followEDS(tb, c.Shoal.XDSAddr)
	testenv.Eventually(tb, 20*time.Second, "every pod in the EndpointSlices, DNS and EDS", func() error {
		if e := readyEndpoints(tb, cs, "web"); len(e) != failoverReplicas {
			return fmt.Errorf("%d ready endpoints in the slices: %v", len(e), e)
		}
		if a, err := dnsAnswer(c.Shoal.DNSAddr); err != nil || len(a) != failoverReplicas {
			return fmt.Errorf("DNS answers %v, %v", a, err)
		}
		if a, _ := eds.healthy(); len(a) != failoverReplicas {
			return fmt.Errorf("EDS has %v", a)
		}
		return nil
	})
	return pods
}

// pickVictim returns the node with pods that is SIGKILLed and the other;
// both must run some of pods.
func pickVictim(tb testing.TB, c *nodeagenttest.Cluster, pods []corev1.Pod) (victim, survivor *nodeagenttest.Node, on []corev1.Pod) {
	tb.Helper()
	count := map[string]int{}
	for _, p := range pods {
		count[p.Spec.NodeName]++
	}
	victim, survivor = c.Nodes[1], c.Nodes[0]
	if count[victim.Name] == 0 || count[survivor.Name] == 0 {
		tb.Fatalf("the pods are not spread over both nodes: %v", count)
	}
	for _, p := range pods {
		if p.Spec.NodeName == victim.Name {
			on = append(on, p)
		}
	}
	return victim, survivor, on
}

// killAndMeasure SIGKILLs victim's agent and follows the API, the
// EndpointSlices, DNS and EDS until the victim's pods are gone from all and
// replaced on survivor, or fails the test after within.
func killAndMeasure(tb testing.TB, c *nodeagenttest.Cluster, victim, survivor *nodeagenttest.Node, within time.Duration) failoverTimes {
	tb.Helper()
	// The pollers' own client: client-go's default 5 requests/s would
	// round the API's views up to fifths of a second.
	rc := c.Shoal.RESTConfig(tb)
	rc.QPS, rc.Burst = 1000, 1000
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := tb.Context()
	eds := followEDS(tb, c.Shoal.XDSAddr)
	onVictim := func(ips []netip.Addr) bool {
		return slices.ContainsFunc(ips, victim.PodCIDR.Contains)
	}
	// Each view is polled on its own, so a slow one does not delay the
	// others' timestamps.
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var r failoverTimes
	var killed time.Time
	stamp := func(d *time.Duration, at time.Time) {
		mu.Lock()
		if *d == 0 {
			*d = max(at.Sub(killed), time.Millisecond)
		}
		mu.Unlock()
	}
	poll := func(every time.Duration, check func() (clearAt time.Time, ok bool), d *time.Duration) {
		wg.Go(func() {
			for pctx.Err() == nil {
				if at, ok := check(); ok {
					stamp(d, at)
					return
				}
				select {
				case <-pctx.Done():
				case <-time.After(every):
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	killed = victim.Kill(tb)
	poll(20*time.Millisecond, func() (time.Time, bool) {
		a, at := eds.healthy()
		return at, len(a) > 0 && !onVictim(a)
	}, &r.eds)
	poll(20*time.Millisecond, func() (time.Time, bool) {
		a, err := dnsAnswer(c.Shoal.DNSAddr)
		return time.Now(), err == nil && len(a) > 0 && !onVictim(a)
	}, &r.dns)
	poll(50*time.Millisecond, func() (time.Time, bool) {
		a := readyEndpoints(tb, cs, "web")
		return time.Now(), len(a) > 0 && !onVictim(a)
	}, &r.slices)
	poll(50*time.Millisecond, func() (time.Time, bool) {
		n, err := cs.CoreV1().Nodes().Get(pctx, victim.Name, metav1.GetOptions{})
		return time.Now(), err == nil && !nodeagenttest.NodeReady(n)
	}, &r.notReady)
	poll(100*time.Millisecond, func() (time.Time, bool) {
		list, err := cs.CoreV1().Pods("default").List(pctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return time.Time{}, false
		}
		now, left, ready := time.Now(), 0, 0
		for i := range list.Items {
			p := &list.Items[i]
			switch {
			case p.Spec.NodeName == victim.Name:
				left++
			case p.Spec.NodeName == survivor.Name && p.DeletionTimestamp == nil && runningReady(p) == nil:
				ready++
			}
		}
		if left == 0 {
			stamp(&r.evicted, now)
		}
		return now, left == 0 && ready == failoverReplicas
	}, &r.replaced)

	deadline := time.Now().Add(within)
	for {
		mu.Lock()
		got := r
		mu.Unlock()
		if got.notReady != 0 && got.slices != 0 && got.dns != 0 && got.eds != 0 && got.replaced != 0 {
			return got
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%v after the SIGKILL of %s's agent, not yet all done (0 = not yet): %+v", within, victim.Name, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dnsAnswer is the A records of the headless Service.
func dnsAnswer(server string) ([]netip.Addr, error) {
	m := new(dns.Msg)
	m.SetQuestion(dnsName, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, server)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	var out []netip.Addr
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

// edsFollower holds the HEALTHY endpoints of the Service's
// ClusterLoadAssignment as last pushed over ADS.
type edsFollower struct {
	mu  sync.Mutex
	ips []netip.Addr
	at  time.Time // when that assignment arrived
}

func (f *edsFollower) healthy() ([]netip.Addr, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ips, f.at
}

// followEDS subscribes to the "web" Service's endpoints over ADS, as a node
// proxy does, until the test ends.
func followEDS(tb testing.TB, addr string) *edsFollower {
	tb.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		cc.Close()
		tb.Fatal(err)
	}
	f := &edsFollower{}
	done := make(chan struct{})
	tb.Cleanup(func() { cancel(); <-done; cc.Close() })
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "failover-test", UserAgentName: "envoy"},
		TypeUrl: resourcev3.EndpointType, ResourceNames: []string{edsName}}
	if err := st.Send(req); err != nil {
		tb.Fatal(err)
	}
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				return
			}
			now := time.Now()
			for _, a := range r.Resources {
				cla := &endpointv3.ClusterLoadAssignment{}
				if a.UnmarshalTo(cla) != nil || cla.ClusterName != edsName {
					continue
				}
				var ips []netip.Addr
				for _, loc := range cla.Endpoints {
					for _, e := range loc.LbEndpoints {
						ip, err := netip.ParseAddr(e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
						if err == nil && e.HealthStatus == corev3.HealthStatus_HEALTHY {
							ips = append(ips, ip)
						}
					}
				}
				f.mu.Lock()
				f.ips, f.at = ips, now
				f.mu.Unlock()
			}
			if st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: req.ResourceNames,
				VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}) != nil {
				return
			}
		}
	}()
	return f
}

// checkRestartedVictim restarts the killed agent and waits until its node
// is Ready again with none of its old pods running (they were replaced),
// and checks that the Deployment still has exactly its replicas, all on
// the survivor: nothing runs twice.
func checkRestartedVictim(tb testing.TB, c *nodeagenttest.Cluster, victim *nodeagenttest.Node, old []corev1.Pod) {
	tb.Helper()
	cs := c.Client
	victim.Restart(tb)
	testenv.Eventually(tb, 30*time.Second, victim.Name+" Ready again and its old pods stopped", func() error {
		node, err := cs.CoreV1().Nodes().Get(tb.Context(), victim.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeagenttest.NodeReady(node) {
			return fmt.Errorf("%s: %s", victim.Name, readyMessage(node))
		}
		for _, p := range old {
			if _, err := httpGet("http://" + p.Status.PodIP + ":8080/"); err == nil {
				return fmt.Errorf("old pod %s still answers on %s", p.Name, victim.Name)
			}
		}
		return nil
	})
	list, err := cs.CoreV1().Pods("default").List(tb.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		tb.Fatal(err)
	}
	if n := len(list.Items); n != failoverReplicas {
		tb.Errorf("%d web pods after %s came back; want %d", n, victim.Name, failoverReplicas)
	}
	for _, p := range list.Items {
		if p.Spec.NodeName == victim.Name {
			tb.Errorf("pod %s is bound to %s, which came back after its pods were replaced", p.Name, victim.Name)
		}
	}
	if a := readyEndpoints(tb, cs, "web"); len(a) != failoverReplicas || slices.ContainsFunc(a, victim.PodCIDR.Contains) {
		tb.Errorf("ready endpoints after %s came back: %v; want %d, none on it", victim.Name, a, failoverReplicas)
	}
}
