package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
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
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// harness follows pods three ways: the API (Ready), DNS and xDS.
type harness struct {
	sh *benchenv.Shoal
	cs *kubernetes.Clientset

	mu    sync.Mutex
	ready map[string]time.Time // pod name → first seen Running and Ready
	ips   map[string]string    // pod name → IP
	dns   map[string]time.Time // IP → first seen in the DNS answer
	eds   map[string]time.Time // IP → first seen HEALTHY in the assignment
}

const ns, svc = "default", "bench"

func newHarness(ctx context.Context, sh *benchenv.Shoal) (*harness, error) {
	cs, err := sh.Clientset()
	if err != nil {
		return nil, err
	}
	h := &harness{sh: sh, cs: cs, ready: map[string]time.Time{}, ips: map[string]string{}, dns: map[string]time.Time{}, eds: map[string]time.Time{}}
	headless := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": svc},
			Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, headless, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + svc})
	if err != nil {
		return nil, err
	}
	go h.watchPods(w)
	go h.pollDNS(ctx)
	go h.followEDS(ctx)
	return h, nil
}

func (h *harness) watchPods(w watch.Interface) {
	for e := range w.ResultChan() {
		p, ok := e.Object.(*corev1.Pod)
		if !ok || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				h.mu.Lock()
				if _, seen := h.ready[p.Name]; !seen {
					h.ready[p.Name] = time.Now()
					h.ips[p.Name] = p.Status.PodIP
				}
				h.mu.Unlock()
			}
		}
	}
}

// pollDNS asks the resolver for the headless Service's A records every
// 5 ms and notes when each IP first appears.
func (h *harness) pollDNS(ctx context.Context) {
	c := &dns.Client{Net: "tcp", Timeout: time.Second} // 100 A records do not fit UDP
	m := new(dns.Msg)
	m.SetQuestion(svc+"."+ns+".svc.cluster.local.", dns.TypeA)
	for ctx.Err() == nil {
		if r, _, err := c.ExchangeContext(ctx, m, h.sh.DNSAddr); err == nil {
			now := time.Now()
			h.mu.Lock()
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					if _, seen := h.dns[a.A.String()]; !seen {
						h.dns[a.A.String()] = now
					}
				}
			}
			h.mu.Unlock()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// followEDS watches the Service's ClusterLoadAssignment over ADS.
func (h *harness) followEDS(ctx context.Context) {
	cc, err := grpc.NewClient(h.sh.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return
	}
	defer cc.Close()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		return
	}
	name := fmt.Sprintf("%s.%s.svc.cluster.local:8080", svc, ns)
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "podstart", UserAgentName: "envoy"}, TypeUrl: resourcev3.EndpointType, ResourceNames: []string{name}}
	if st.Send(req) != nil {
		return
	}
	for {
		r, err := st.Recv()
		if err != nil {
			return
		}
		now := time.Now()
		for _, a := range r.Resources {
			cla := &endpointv3.ClusterLoadAssignment{}
			if a.UnmarshalTo(cla) != nil {
				continue
			}
			h.mu.Lock()
			for _, loc := range cla.Endpoints {
				for _, e := range loc.LbEndpoints {
					if e.HealthStatus != corev3.HealthStatus_HEALTHY {
						continue
					}
					ip := e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
					if _, seen := h.eds[ip]; !seen {
						h.eds[ip] = now
					}
				}
			}
			h.mu.Unlock()
		}
		st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: req.ResourceNames, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
	}
}

// run is one measured batch of pods.
type runResult struct {
	name                string
	kind                string // what the pods run
	burst               bool
	pods                int
	ready, inDNS, inEDS []time.Duration
	elapsed             time.Duration
}

// measure creates n pods running c (rate per second, or all at once when
// rate is 0), waits for each to be Ready, in DNS and in EDS, then deletes
// them.
func (h *harness) measure(ctx context.Context, name string, n int, rate float64, c corev1.Container) (runResult, error) {
	res := runResult{name: name, pods: n}
	created := map[string]time.Time{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
		pod := h.pod(fmt.Sprintf("%s-%03d", name, i), c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			if _, err := h.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			created[pod.Name] = t
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		h.mu.Lock()
		done := 0
		for p := range created {
			ip := h.ips[p]
			_, d := h.dns[ip]
			_, e := h.eds[ip]
			if ip != "" && d && e {
				done++
			}
		}
		h.mu.Unlock()
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%s: only %d of %d pods Ready, in DNS and in EDS after 2 minutes", name, done, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.elapsed = time.Since(start)
	h.mu.Lock()
	for p, t := range created {
		ip := h.ips[p]
		res.ready = append(res.ready, h.ready[p].Sub(t))
		res.inDNS = append(res.inDNS, h.dns[ip].Sub(t))
		res.inEDS = append(res.inEDS, h.eds[ip].Sub(t))
	}
	h.mu.Unlock()
	for _, d := range [][]time.Duration{res.ready, res.inDNS, res.inEDS} {
		slices.Sort(d)
	}
	// Clean up before the next run: delete and wait until they are gone.
	if err := h.cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app=" + svc}); err != nil {
		return res, err
	}
	for time.Now().Before(deadline.Add(time.Minute)) {
		l, err := h.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + svc})
		if err == nil && len(l.Items) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return res, nil
}

// pod is a pod of the headless Service running c, ready once it accepts
// connections on 8080.
func (h *harness) pod(name string, c corev1.Container) *corev1.Pod {
	c.Name = "server"
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intOrPort(8080)}},
		PeriodSeconds: 1,
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": svc}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers:                    []corev1.Container{c},
		},
	}
}
