// Package schedulertest simulates nodes for tests and benchmarks of the
// scheduler and the node lifecycle controller: a Node object with capacity,
// the Lease its agent renews with a load report, and pods bound to it marked
// running and ready, all through the registry, with no processes.
package schedulertest

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Options describe a simulated node.
type Options struct {
	// CPU and Memory are its capacity (and allocatable): "4", "8Gi".
	CPU, Memory string
	// MaxPods is its allocatable pods; 0 gives none (no limit).
	MaxPods  int
	Labels   map[string]string
	Taints   []corev1.Taint
	NotReady bool
	// Interval is how often the Lease is renewed; 0 is api.LoadInterval.
	Interval time.Duration
	// Load, if set, is the load report each renewal carries.
	Load *api.LoadReport
	// RunPods marks pods bound to the node Running and Ready, as an agent
	// starting them would (needs Caches).
	RunPods bool
	Caches  *store.Caches
}

// Node is a simulated node and its agent.
type Node struct {
	Name    string
	PodCIDR netip.Prefix
	reg     *registry.Registry
	opts    Options

	alive  atomic.Bool
	nextIP atomic.Uint32
	mu     sync.Mutex
	load   *api.LoadReport
	stop   context.CancelFunc
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context // the test's
}

// Start registers a node named name and runs its agent until Stop or the end
// of the test.
func Start(t testing.TB, reg *registry.Registry, name string, opts Options) *Node {
	t.Helper()
	if opts.RunPods && opts.Caches == nil {
		t.Fatal("schedulertest: RunPods needs Caches")
	}
	if opts.Interval <= 0 {
		opts.Interval = api.LoadInterval
	}
	n := &Node{Name: name, reg: reg, opts: opts, load: opts.Load, ctx: t.Context()}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(opts.CPU), corev1.ResourceMemory: resource.MustParse(opts.Memory)}
	if opts.MaxPods > 0 {
		capacity[corev1.ResourcePods] = *resource.NewQuantity(int64(opts.MaxPods), resource.DecimalSI)
	}
	ready := corev1.ConditionTrue
	if opts.NotReady {
		ready = corev1.ConditionFalse
	}
	labels := map[string]string{corev1.LabelHostname: name}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	now := metav1.Now()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: opts.Taints},
		Status: corev1.NodeStatus{
			Capacity:   capacity,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}},
		},
	}
	res, err := reg.Create(t.Context(), registry.Nodes, node, registry.WriteOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	n.PodCIDR, _ = netip.ParsePrefix(res.Object.(*corev1.Node).Spec.PodCIDR)
	if err := n.renew(t.Context()); err != nil {
		t.Fatalf("create the lease of node %s: %v", name, err)
	}
	// Alive before the pods are watched: the scheduler may bind a pod here
	// as soon as the Node exists, and the subscription's replay must run it.
	n.Resume()
	unsubscribe := func() {}
	if opts.RunPods {
		unsubscribe = opts.Caches.For(registry.Pods.Resource).Subscribe(n.onPod)
	}
	t.Cleanup(func() {
		n.Stop()
		unsubscribe()
		n.mu.Lock()
		n.closed = true // no pod goroutine starts after this
		n.mu.Unlock()
		n.wg.Wait()
	})
	return n
}

// Stop stops the agent, as if it died: no more renewals or pod updates.
func (n *Node) Stop() {
	n.alive.Store(false)
	n.mu.Lock()
	if n.stop != nil {
		n.stop()
		n.stop = nil
	}
	n.mu.Unlock()
}

// Resume starts the agent again after Stop.
func (n *Node) Resume() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(n.ctx)
	n.stop = cancel
	n.alive.Store(true)
	n.wg.Go(func() {
		tick := time.NewTicker(n.opts.Interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = n.renew(ctx) // a missed renewal is what a real agent has too
			}
		}
	})
}

// SetLoad changes the load report the next renewals carry.
func (n *Node) SetLoad(r api.LoadReport) {
	n.mu.Lock()
	n.load = &r
	n.mu.Unlock()
}

// renew creates or renews the node's Lease.
func (n *Node) renew(ctx context.Context) error {
	n.mu.Lock()
	load := n.load
	n.mu.Unlock()
	now := metav1.NowMicro()
	set := func(l *coordinationv1.Lease) error {
		holder, secs := n.Name, int32(40)
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &secs, &now
		if load != nil {
			r := *load
			r.Time = now.Time
			return api.SetLoadReport(l, r)
		}
		return nil
	}
	_, err := n.reg.Update(ctx, registry.Leases, api.NodeLeaseNamespace, n.Name, "", func(cur store.Object) (store.Object, error) {
		l := cur.(*coordinationv1.Lease)
		l.ResourceVersion = ""
		return l, set(l)
	}, registry.WriteOptions{})
	if !apierrors.IsNotFound(err) {
		return err
	}
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: api.NodeLeaseNamespace, Name: n.Name}}
	if err := set(l); err != nil {
		return err
	}
	_, err = n.reg.Create(ctx, registry.Leases, l, registry.WriteOptions{})
	return err
}

func (n *Node) onPod(e store.Event) {
	if e.Type != watch.Added && e.Type != watch.Modified {
		return
	}
	pod := e.Object.(*corev1.Pod)
	if pod.Spec.NodeName != n.Name || pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodPending || !n.alive.Load() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.wg.Go(func() { n.runPod(pod) })
	}
}

// runPod reports the pod started: Running, Ready, with an IP from the
// node's pod CIDR.
func (n *Node) runPod(pod *corev1.Pod) {
	ip := n.PodCIDR.Addr()
	for range 2 + n.nextIP.Add(1) {
		ip = ip.Next()
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	_, err := n.reg.Update(ctx, registry.Pods, pod.Namespace, pod.Name, "status", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID || p.Spec.NodeName != n.Name || p.Status.Phase != corev1.PodPending {
			return nil, errSkip
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodRunning
		p.Status.HostIP = ""
		p.Status.PodIP, p.Status.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
		p.Status.StartTime = &now
		for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			registry.SetPodCondition(&p.Status, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue})
		}
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	_ = err // gone, moved on, or the test ended
}

var errSkip = fmt.Errorf("schedulertest: the pod changed; not starting it")
