package dashboard_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/trafficload"
)

// fixture is a running Shoal (the in-process `shoal up`, without a node
// agent) and an HTTPS client for its dashboard that trusts the cluster's
// CA and sends no credentials of its own.
type fixture struct {
	s      *clustertest.Shoal
	cs     *kubernetes.Clientset
	client *http.Client
	ui     string // https://host:port/ui/
}

func start(t *testing.T) *fixture {
	t.Helper()
	s := clustertest.Start(t, clustertest.Options{})
	cfg := s.RESTConfig(t)
	tlsCfg, err := rest.TLSConfigFor(&rest.Config{TLSClientConfig: cfg.TLSClientConfig})
	if err != nil {
		t.Fatalf("tls config: %v", err)
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &fixture{s: s, cs: s.Clientset(t), client: &http.Client{Transport: tr}, ui: s.DashboardURL}
}

// tlsConfig is the client TLS the fixture's client uses.
func (f *fixture) tlsConfig() *tls.Config {
	return f.client.Transport.(*http.Transport).TLSClientConfig
}

// do sends method path (under /ui/) with token as a bearer token ("" for
// none) and returns the response and its body (streams excepted).
func (f *fixture) do(t *testing.T, method, path, token string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.ui+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// The page's view of a stream, decoded as the page decodes it.
type (
	wireSection struct {
		Set []json.RawMessage `json:"set"`
		Del []string          `json:"del"`
	}
	wireMessage struct {
		T           int64              `json:"t"`
		User        string             `json:"user"`
		Can         map[string]bool    `json:"can"`
		Nodes       *wireSection       `json:"nodes"`
		Services    *wireSection       `json:"services"`
		Deployments *wireSection       `json:"deployments"`
		Events      *[]json.RawMessage `json:"events"`
	}
	wireEndpoint struct {
		IP       string  `json:"ip"`
		Pod      string  `json:"pod"`
		Ready    bool    `json:"ready"`
		Weight   uint32  `json:"w"`
		Latency  float64 `json:"lat"`
		RPS      float64 `json:"rps"`
		InFlight float64 `json:"inflight"`
		Errors   float64 `json:"err"`
	}
	wireService struct {
		NS        string         `json:"ns"`
		Name      string         `json:"name"`
		Endpoints []wireEndpoint `json:"eps"`
	}
	wireNode struct {
		Name string `json:"name"`
		Load *struct {
			CPU  float64 `json:"cpu"`
			Pods int     `json:"pods"`
		} `json:"load"`
	}
	wireDeployment struct {
		NS      string `json:"ns"`
		Name    string `json:"name"`
		Desired int32  `json:"desired"`
		Updated int32  `json:"updated"`
	}
	wireEvent struct {
		NS     string `json:"ns"`
		Reason string `json:"reason"`
		Object string `json:"object"`
	}
)

// view is what a stream has shown so far.
type view struct {
	user     string
	can      map[string]bool
	nodes    map[string]wireNode
	services map[string]wireService
	deploys  map[string]wireDeployment
	events   []wireEvent
	messages int
}

func apply[V any](t *testing.T, m map[string]V, sec *wireSection, key func(V) string) {
	if sec == nil {
		return
	}
	for _, raw := range sec.Set {
		var v V
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		m[key(v)] = v
	}
	for _, k := range sec.Del {
		delete(m, k)
	}
}

func (v *view) apply(t *testing.T, m wireMessage) {
	if m.User != "" {
		v.user = m.User
	}
	if m.Can != nil {
		v.can = m.Can
	}
	apply(t, v.nodes, m.Nodes, func(n wireNode) string { return n.Name })
	apply(t, v.services, m.Services, func(s wireService) string { return s.NS + "/" + s.Name })
	apply(t, v.deploys, m.Deployments, func(d wireDeployment) string { return d.NS + "/" + d.Name })
	if m.Events != nil {
		v.events = nil
		for _, raw := range *m.Events {
			var e wireEvent
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("decode event %s: %v", raw, err)
			}
			v.events = append(v.events, e)
		}
	}
	v.messages++
}

// stream is an open /ui/api/stream.
type stream struct {
	resp *http.Response
	sc   *bufio.Scanner
	view view
}

// openStream opens the stream with token; the caller checks the status.
func (f *fixture) openStream(t *testing.T, token string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.ui+"api/stream", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return &stream{resp: resp, sc: sc, view: view{nodes: map[string]wireNode{}, services: map[string]wireService{},
		deploys: map[string]wireDeployment{}}}
}

// next reads one event: its name and data.
func (s *stream) next(t *testing.T) (string, []byte) {
	t.Helper()
	name := ""
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			if !s.sc.Scan() || s.sc.Text() != "" {
				t.Fatalf("event %s: data not followed by a blank line", name)
			}
			return name, data
		}
	}
	t.Fatalf("stream ended: %v", s.sc.Err())
	return "", nil
}

// until applies state events until cond holds, failing after timeout.
func (s *stream) until(t *testing.T, timeout time.Duration, what string, cond func(*view) bool) {
	t.Helper()
	deadline := time.AfterFunc(timeout, func() { s.resp.Body.Close() })
	defer deadline.Stop()
	for !cond(&s.view) {
		name, data := s.next(t)
		if name != "state" {
			t.Fatalf("waiting for %s: got event %s: %s", what, name, data)
		}
		var m wireMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("decode message %s: %v", data, err)
		}
		s.view.apply(t, m)
	}
}

// seedService makes a selector-less Service ns/name with one port and an
// EndpointSlice of ready endpoints at ips, standing for pods name-0, …, as
// an operator registers endpoints the cluster does not run.
func seedService(t *testing.T, cs *kubernetes.Clientset, ns, name string, ips ...string) {
	t.Helper()
	ctx := t.Context()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service %s/%s: %v", ns, name, err)
	}
	port, proto, ready := int32(8080), corev1.ProtocolTCP, true
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port, Protocol: &proto}},
	}
	for i, ip := range ips {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", name, i)}})
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpointslice of %s/%s: %v", ns, name, err)
	}
}

func ptr[T any](v T) *T { return &v }

func createNamespace(t *testing.T, cs *kubernetes.Clientset, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// replica publishes traffic as an xDS replica does: one report under its
// own key (trafficload.Key), on a lease that a stopped replica's reports
// expire with. The weights leader of the cluster merges it with the
// others' and turns it into the weights EDS serves.
type replica struct {
	etcd  *clientv3.Client
	key   string
	lease clientv3.LeaseID
}

func newReplica(t *testing.T, etcd *clientv3.Client, name string) *replica {
	t.Helper()
	g, err := etcd.Grant(t.Context(), 5)
	if err != nil {
		t.Fatalf("grant lease: %v", err)
	}
	ka, err := etcd.KeepAlive(t.Context(), g.ID)
	if err != nil {
		t.Fatalf("keep lease alive: %v", err)
	}
	go func() {
		for range ka {
		}
	}()
	r := &replica{etcd: etcd, key: trafficload.Key(name), lease: g.ID}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		etcd.Revoke(ctx, g.ID) // its reports go with it
	})
	return r
}

func (r *replica) publish(t *testing.T, report api.TrafficReport) {
	t.Helper()
	b, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.etcd.Put(t.Context(), r.key, string(b), clientv3.WithLease(r.lease)); err != nil {
		t.Fatalf("publish traffic: %v", err)
	}
}

// load is the synthetic load of one endpoint: busy or slow ones answer
// slower and hold more requests in flight for the same request rate.
func load(rps, latency float64) api.EndpointLoad {
	return api.EndpointLoad{RPS: rps, InFlight: rps * latency, Latency: latency, CPU: -1, Reporters: 2}
}

// node registers a Node and keeps its Lease renewed with load reports, as
// a node agent does, until the test ends.
func node(t *testing.T, cs *kubernetes.Clientset, name string, report api.LoadReport) {
	t.Helper()
	ctx := t.Context()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node: %v", err)
	}
	n.Status = corev1.NodeStatus{
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}},
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node status: %v", err)
	}
	leases := cs.CoordinationV1().Leases(api.NodeLeaseNamespace)
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: ptr(int32(40)), RenewTime: &metav1.MicroTime{Time: time.Now()}}}
	if err := api.SetLoadReport(l, report); err != nil {
		t.Fatal(err)
	}
	if l, err = leases.Create(ctx, l, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create lease: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() {
		tick := time.NewTicker(api.LoadInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
			updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
			if err != nil {
				updated, err = leases.Get(ctx, name, metav1.GetOptions{}) // renew the newest copy next time
			}
			if err == nil {
				l = updated
				api.SetLoadReport(l, report)
			}
		}
	})
}

// deployment makes a Deployment of replicas pods of a pause-like image;
// without a node agent its pods stay pending, a rollout in progress.
func deployment(t *testing.T, cs *kubernetes.Clientset, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/" + name + ":1"}}}}}}
	if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
}
