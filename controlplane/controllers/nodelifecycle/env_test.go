package nodelifecycle

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/scheduler/schedulertest"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// nodeEnv runs the node lifecycle controller with short durations against
// simulated nodes on an embedded etcd.
type nodeEnv struct {
	*controllertest.Env
	cfg Config
}

func newNodeEnv(t *testing.T, grace, evict time.Duration) *nodeEnv {
	t.Helper()
	return &nodeEnv{Env: controllertest.New(t), cfg: Config{NodeGracePeriod: grace, PodEvictionDelay: evict}}
}

// start runs a node lifecycle controller, on the caches the simulated nodes
// use, until stop or the end of the test.
func (e *nodeEnv) start() (stop func()) {
	ctx, cancel := context.WithCancel(e.Ctx)
	done := make(chan struct{})
	go func() {
		New(e.Deps(), e.cfg).Run(ctx)
		close(done)
	}()
	stop = func() {
		cancel()
		<-done
	}
	e.T.Cleanup(stop)
	return stop
}

func (e *nodeEnv) node(name string) *schedulertest.Node {
	return schedulertest.Start(e.T, e.Reg, name, schedulertest.Options{CPU: "4", Memory: "8Gi", Interval: 50 * time.Millisecond,
		RunPods: true, Caches: e.Caches})
}

// boundPod creates a pod already bound to node (running once its agent
// reports it), changed by edits.
func (e *nodeEnv) boundPod(name, node string, edits ...func(*corev1.Pod)) *corev1.Pod {
	e.T.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Command: []string{"/bin/sleep", "60"}}}},
	}
	for _, f := range edits {
		f(p)
	}
	res, err := e.Reg.Create(e.Ctx, registry.Pods, p, registry.WriteOptions{})
	if err != nil {
		e.T.Fatalf("create pod %s: %v", name, err)
	}
	return res.Object.(*corev1.Pod)
}

func (e *nodeEnv) getNode(name string) *corev1.Node {
	e.T.Helper()
	o, err := e.Reg.Store.Get(e.Ctx, registry.Nodes.Resource, "", name)
	if err != nil {
		e.T.Fatal(err)
	}
	return o.(*corev1.Node)
}

// getPod returns the pod, or nil once it is gone.
func (e *nodeEnv) getPod(name string) *corev1.Pod {
	e.T.Helper()
	o, err := e.Reg.Store.Get(e.Ctx, registry.Pods.Resource, "default", name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.T.Fatal(err)
	}
	return o.(*corev1.Pod)
}

// nodeState is "<Ready status>/<reason>" and whether the unreachable taint is on.
func (e *nodeEnv) nodeState(name string) (string, bool) {
	n := e.getNode(name)
	c := readyCondition(n)
	if c == nil {
		return "none", hasUnreachableTaint(n)
	}
	return string(c.Status) + "/" + c.Reason, hasUnreachableTaint(n)
}

func (e *nodeEnv) waitNode(name, state string, tainted bool) {
	e.T.Helper()
	controllertest.Eventually(e.T, fmt.Sprintf("node %s %s, tainted %v", name, state, tainted), func() (bool, string) {
		s, tt := e.nodeState(name)
		return s == state && tt == tainted, fmt.Sprintf("%s, tainted %v", s, tt)
	})
}

func podStatus(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	if p == nil {
		return "gone"
	}
	return podCondition(p, t)
}

func TestNodeLifecycleNotReadyAndBack(t *testing.T) {
	e := newNodeEnv(t, 500*time.Millisecond, time.Hour)
	a := e.node("node-a")
	e.node("node-b")
	e.start()
	e.boundPod("p", "node-a")
	controllertest.Eventually(t, "pod p ready", func() (bool, string) {
		s := podStatus(e.getPod("p"), corev1.PodReady)
		return s == corev1.ConditionTrue, string(s)
	})

	a.Stop()
	e.waitNode("node-a", "Unknown/NodeStatusUnknown", true)
	p := e.getPod("p")
	if podStatus(p, corev1.PodReady) != corev1.ConditionFalse || podStatus(p, corev1.ContainersReady) != corev1.ConditionFalse {
		t.Fatalf("pod on the lost node: conditions %+v; want Ready and ContainersReady False", p.Status.Conditions)
	}
	if s, tainted := e.nodeState("node-b"); s != "True/KubeletReady" || tainted {
		t.Fatalf("node-b, which kept renewing: %s, tainted %v", s, tainted)
	}

	a.Resume()
	e.waitNode("node-a", "True/NodeLeaseRenewed", false)
	if e.getPod("p") == nil {
		t.Fatal("pod deleted before its eviction delay")
	}
}

func TestNodeLifecycleEvicts(t *testing.T) {
	e := newNodeEnv(t, 300*time.Millisecond, 1500*time.Millisecond)
	a := e.node("node-a")
	e.node("node-b") // renewing: the controller is not blind
	e.start()
	tolerate := func(secs *int64) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
				Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}}
		}
	}
	e.boundPod("plain", "node-a")
	e.boundPod("forever", "node-a", tolerate(nil))
	e.boundPod("briefly", "node-a", tolerate(new(int64(0))))
	a.Stop()
	e.waitNode("node-a", "Unknown/NodeStatusUnknown", true)
	controllertest.Eventually(t, "the pod tolerating 0 s evicted", func() (bool, string) {
		return e.getPod("briefly") == nil, "still there"
	})
	if e.getPod("plain") == nil {
		t.Fatal("the plain pod was evicted with the one tolerating 0 s; want it after the 1.5 s delay")
	}
	controllertest.Eventually(t, "the plain pod evicted", func() (bool, string) {
		return e.getPod("plain") == nil, "still there"
	})
	if p := e.getPod("forever"); p == nil || podStatus(p, corev1.PodReady) != corev1.ConditionFalse {
		t.Fatalf("the pod tolerating the taint for ever: %v; want kept, not ready", p)
	}
}

// A controller that starts (a new leader) while a node is already lost
// does not take the node's old Lease for a renewal.
func TestNodeLifecycleNewLeader(t *testing.T) {
	e := newNodeEnv(t, 300*time.Millisecond, time.Hour)
	a := e.node("node-a")
	e.node("node-b")
	stop := e.start()
	a.Stop()
	e.waitNode("node-a", "Unknown/NodeStatusUnknown", true)
	stop()
	e.start()
	// Longer than the grace period: the new leader must not flip it back.
	deadline := time.Now().Add(700 * time.Millisecond)
	for time.Now().Before(deadline) {
		if s, tainted := e.nodeState("node-a"); s != "Unknown/NodeStatusUnknown" || !tainted {
			t.Fatalf("after a leader change, the lost node is %s, tainted %v", s, tainted)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.Resume()
	e.waitNode("node-a", "True/NodeLeaseRenewed", false)
}

func TestNodeLifecycleNeverRenewedAndOrphans(t *testing.T) {
	e := newNodeEnv(t, 300*time.Millisecond, 500*time.Millisecond)
	e.start()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "silent"}}
	if _, err := e.Reg.Create(e.Ctx, registry.Nodes, n, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitNode("silent", "Unknown/NodeStatusNeverUpdated", true)

	// A pod bound to a node that does not exist is deleted after the delay.
	e.boundPod("orphan", "no-such-node")
	controllertest.Eventually(t, "the orphan deleted", func() (bool, string) { return e.getPod("orphan") == nil, "still there" })
	controllertest.Eventually(t, "NodeNotReady and TaintManagerEviction events", func() (bool, string) {
		ev, err := e.Reg.Store.List(e.Ctx, registry.Events.Resource, "default", store.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var reasons []string
		for _, o := range ev.Items {
			reasons = append(reasons, o.(*corev1.Event).Reason)
		}
		return slices.Contains(reasons, "NodeNotReady") && slices.Contains(reasons, "TaintManagerEviction"), fmt.Sprint(reasons)
	})
}

// When no Lease changes at all for the grace period (etcd or the
// controller's watch down, or every node gone at once), the controller
// cannot tell who is dead and marks nothing; once Leases change again, every
// node gets a full grace period from then, and one still silent after it is
// NotReady.
func TestNodeLifecycleHoldsWhileNoLeaseChanges(t *testing.T) {
	// The two nodes' last renewals are seen some time apart (a renewal in
	// flight when Stop is called, a loaded machine): a node silent for a
	// grace period while the other was still heard is rightly marked. A
	// grace period well above that skew keeps the test to what it asks.
	const grace = 1500 * time.Millisecond
	e := newNodeEnv(t, grace, time.Hour)
	a, b := e.node("node-a"), e.node("node-b")
	e.start()
	e.boundPod("p", "node-a")
	controllertest.Eventually(t, "pod p ready", func() (bool, string) {
		s := podStatus(e.getPod("p"), corev1.PodReady)
		return s == corev1.ConditionTrue, string(s)
	})
	a.Stop()
	b.Stop()
	// Several grace periods of silence everywhere: nobody is marked.
	deadline := time.Now().Add(3 * grace)
	for time.Now().Before(deadline) {
		for _, n := range []string{"node-a", "node-b"} {
			if s, tainted := e.nodeState(n); s != "True/KubeletReady" || tainted {
				t.Fatalf("%s is %s, tainted %v, while no node's Lease changed", n, s, tainted)
			}
		}
		if s := podStatus(e.getPod("p"), corev1.PodReady); s != corev1.ConditionTrue {
			t.Fatalf("pod p Ready=%s while no node's Lease changed", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resumed := time.Now() // no later than the controller sees it
	b.Resume()
	e.waitNode("node-a", "Unknown/NodeStatusUnknown", true)
	if d := time.Since(resumed); d < grace {
		t.Errorf("node-a NotReady %v after node-b renewed again; want a full grace period (%v) from then", d, grace)
	}
	if s, tainted := e.nodeState("node-b"); s != "True/KubeletReady" || tainted {
		t.Errorf("node-b, renewing again: %s, tainted %v", s, tainted)
	}
}
