package scheduler_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/deployment"
	"github.com/shoalmesh/shoal/controlplane/controllers/nodelifecycle"
	"github.com/shoalmesh/shoal/controlplane/controllers/replicaset"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/scheduler"
	"github.com/shoalmesh/shoal/controlplane/scheduler/schedulertest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// env is a registry on an embedded etcd with the process's caches, as the
// scheduler and controllers of one control plane share them.
type env struct {
	t      *testing.T
	ctx    context.Context
	reg    *registry.Registry
	caches *store.Caches
	log    *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	etcd := storetest.StartEtcd(t)
	reg := registrytest.New(t, etcd.Client(t), "")
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	caches := store.NewCaches(reg.Store, nil)
	caches.Start(ctx)
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return &env{t: t, ctx: ctx, reg: reg, caches: caches, log: log}
}

// run runs controllers (the scheduler among them) until the test ends.
func (e *env) run(cs ...controller.Controller) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		controller.Run(ctx, cs...)
		close(done)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
}

func (e *env) scheduler() *scheduler.Scheduler {
	return scheduler.New(scheduler.Config{Registry: e.reg, Caches: e.caches, Log: e.log,
		InitialBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
}

func (e *env) deps() controller.Deps {
	rec := controller.NewRecorder(e.reg, "controller-manager", e.log)
	go rec.Run(e.ctx)
	return controller.Deps{Registry: e.reg, Caches: e.caches, Events: rec, Log: e.log}
}

func (e *env) node(name, cpu, mem string, opts ...func(*schedulertest.Options)) *schedulertest.Node {
	o := schedulertest.Options{CPU: cpu, Memory: mem, Interval: 100 * time.Millisecond, RunPods: true, Caches: e.caches}
	for _, f := range opts {
		f(&o)
	}
	return schedulertest.Start(e.t, e.reg, name, o)
}

func requests(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func (e *env) pod(name, cpu, mem string) *corev1.Pod {
	e.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "lone"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"/bin/sleep", "3600"},
			Resources: corev1.ResourceRequirements{Requests: requests(cpu, mem)}}}},
	}
	res, err := e.reg.Create(e.ctx, registry.Pods, p, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
	return res.Object.(*corev1.Pod)
}

func (e *env) deployment(name string, replicas int32, cpu, mem string) {
	e.t.Helper()
	lbls := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Command: []string{"/bin/sleep", "3600"},
					Resources: corev1.ResourceRequirements{Requests: requests(cpu, mem)}}}},
			},
		},
	}
	if _, err := e.reg.Create(e.ctx, registry.Deployments, d, registry.WriteOptions{}); err != nil {
		e.t.Fatalf("create deployment %s: %v", name, err)
	}
}

func (e *env) pods(app string) []*corev1.Pod {
	e.t.Helper()
	res, err := e.reg.Store.List(e.ctx, registry.Pods.Resource, "default", store.ListOptions{
		Predicate: store.Predicate{Label: labels.SelectorFromSet(labels.Set{"app": app})}})
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]*corev1.Pod, len(res.Items))
	for i, o := range res.Items {
		out[i] = o.(*corev1.Pod)
	}
	return out
}

func (e *env) getPod(name string) *corev1.Pod {
	e.t.Helper()
	o, err := e.reg.Store.Get(e.ctx, registry.Pods.Resource, "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return o.(*corev1.Pod)
}

func (e *env) getNode(name string) *corev1.Node {
	e.t.Helper()
	o, err := e.reg.Store.Get(e.ctx, registry.Nodes.Resource, "", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return o.(*corev1.Node)
}

// perNode counts bound pods by node; unbound pods count under "".
func perNode(pods []*corev1.Pod) map[string]int {
	out := map[string]int{}
	for _, p := range pods {
		out[p.Spec.NodeName]++
	}
	return out
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func (e *env) events(obj store.Object, reason string) []string {
	e.t.Helper()
	res, err := e.reg.Store.List(e.ctx, registry.Events.Resource, obj.GetNamespace(), store.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, o := range res.Items {
		ev := o.(*corev1.Event)
		if ev.InvolvedObject.UID == obj.GetUID() && ev.Reason == reason {
			out = append(out, ev.Message)
		}
	}
	return out
}

// A Deployment's pods spread over three equal nodes by LeastAllocated, and
// end up running there.
func TestDeploymentSpreads(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		e.node(n, "4", "8Gi")
	}
	d := e.deps()
	e.run(e.scheduler(), replicaset.New(d), deployment.New(d))
	e.deployment("web", 6, "500m", "512Mi")
	testenv.Eventually(t, 20*time.Second, "6 pods bound 2 per node and running", func() error {
		pods := e.pods("web")
		got := perNode(pods)
		if len(pods) != 6 || got["node-a"] != 2 || got["node-b"] != 2 || got["node-c"] != 2 {
			return fmt.Errorf("pods per node %v", got)
		}
		for _, p := range pods {
			if c := condition(p, corev1.PodScheduled); c == nil || c.Status != corev1.ConditionTrue {
				return fmt.Errorf("pod %s PodScheduled %+v", p.Name, c)
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s is %s", p.Name, p.Status.Phase)
			}
		}
		return nil
	})
	// Events are written in the background, after the binding.
	testenv.Eventually(t, 20*time.Second, "a Scheduled event", func() error {
		if ev := e.events(e.pods("web")[0], "Scheduled"); len(ev) == 0 || !strings.HasPrefix(ev[0], "Successfully assigned default/web-") {
			return fmt.Errorf("Scheduled events: %q", ev)
		}
		return nil
	})
}

// Pods created at once are placed using what the scheduler bound moments
// before, not only what the cache shows: no node is over-committed.
func TestBurstDoesNotOvercommit(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		e.node(n, "1", "4Gi")
	}
	e.run(e.scheduler())
	for i := range 13 {
		e.pod(fmt.Sprintf("p%02d", i), "250m", "")
	}
	testenv.Eventually(t, 20*time.Second, "12 pods bound, 4 per node, 1 unschedulable", func() error {
		got := perNode(e.pods("lone"))
		if got["node-a"] != 4 || got["node-b"] != 4 || got["node-c"] != 4 || got[""] != 1 {
			return fmt.Errorf("pods per node %v", got)
		}
		return nil
	})
}

// A pod that fits nowhere says why, in its condition and an event, and is
// bound once a node that fits it appears.
func TestUnschedulableUntilANodeFits(t *testing.T) {
	e := newEnv(t)
	e.node("small", "1", "2Gi")
	e.run(e.scheduler())
	pod := e.pod("big", "2", "1Gi")
	wantReason := func(msg string) func() error {
		return func() error {
			c := condition(e.getPod("big"), corev1.PodScheduled)
			if c == nil || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != msg {
				return fmt.Errorf("PodScheduled %+v", c)
			}
			if ev := e.events(pod, "FailedScheduling"); !slices.Contains(ev, msg) {
				return fmt.Errorf("FailedScheduling events %q", ev)
			}
			return nil
		}
	}
	testenv.Eventually(t, 20*time.Second, "Unschedulable: Insufficient cpu", wantReason("0/1 nodes are available: 1 Insufficient cpu."))

	e.node("tainted", "8", "8Gi", func(o *schedulertest.Options) {
		o.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	})
	testenv.Eventually(t, 20*time.Second, "Unschedulable: taint and cpu",
		wantReason("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: db}."))

	e.node("large", "4", "8Gi")
	testenv.Eventually(t, 20*time.Second, "bound to the large node", func() error {
		p := e.getPod("big")
		if c := condition(p, corev1.PodScheduled); p.Spec.NodeName != "large" || c == nil || c.Status != corev1.ConditionTrue {
			return fmt.Errorf("node %q PodScheduled %+v", p.Spec.NodeName, c)
		}
		return nil
	})
}

// Of equally requested nodes, the one whose agent reports the least load
// (on its Lease) gets the pod.
func TestMeasuredLoadDecides(t *testing.T) {
	e := newEnv(t)
	busy := api.LoadReport{CPU: 3.5, Memory: 6 << 30, Pods: 10}
	idle := api.LoadReport{CPU: 0.2, Memory: 1 << 30, Pods: 1}
	e.node("node-a", "4", "8Gi", func(o *schedulertest.Options) { o.Load = &busy })
	b := e.node("node-b", "4", "8Gi", func(o *schedulertest.Options) { o.Load = &idle })
	e.node("node-c", "4", "8Gi", func(o *schedulertest.Options) { o.Load = &busy })
	e.run(e.scheduler())
	e.pod("p1", "100m", "100Mi")
	testenv.Eventually(t, 20*time.Second, "p1 on the idle node", func() error {
		if n := e.getPod("p1").Spec.NodeName; n != "node-b" {
			return fmt.Errorf("p1 on %q", n)
		}
		return nil
	})
	// Now b is the busy one: the next pod goes to the first of the others.
	b.SetLoad(api.LoadReport{CPU: 3.9, Memory: 7 << 30})
	testenv.Eventually(t, 20*time.Second, "node-b's new report in the caches", func() error {
		o, ok := e.caches.For(registry.Leases.Resource).Get(api.NodeLeaseNamespace, "node-b")
		if !ok {
			return fmt.Errorf("no lease")
		}
		if r, _, err := api.LoadReportOf(o.(*coordinationv1.Lease)); err != nil || r.CPU != 3.9 {
			return fmt.Errorf("report %+v, %v", r, err)
		}
		return nil
	})
	e.pod("p2", "100m", "100Mi")
	testenv.Eventually(t, 20*time.Second, "p2 off the now busy node", func() error {
		if n := e.getPod("p2").Spec.NodeName; n != "node-a" {
			return fmt.Errorf("p2 on %q", n)
		}
		return nil
	})
}

// A node whose agent dies goes NotReady; its pods become not ready at once,
// are deleted after the eviction delay, and their replacements are placed on
// the node that is left.
func TestLostNodePodsMove(t *testing.T) {
	e := newEnv(t)
	a := e.node("node-a", "4", "8Gi")
	e.node("node-b", "4", "8Gi")
	d := e.deps()
	e.run(e.scheduler(), replicaset.New(d), deployment.New(d),
		nodelifecycle.New(d, nodelifecycle.Config{NodeGracePeriod: time.Second, PodEvictionDelay: time.Second}))
	e.deployment("web", 4, "500m", "512Mi")
	var onA []string
	testenv.Eventually(t, 20*time.Second, "4 pods running, 2 per node", func() error {
		pods := e.pods("web")
		onA = onA[:0]
		for _, p := range pods {
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s is %s", p.Name, p.Status.Phase)
			}
			if p.Spec.NodeName == "node-a" {
				onA = append(onA, p.Name)
			}
		}
		if got := perNode(pods); len(pods) != 4 || got["node-a"] != 2 || got["node-b"] != 2 {
			return fmt.Errorf("pods per node %v", got)
		}
		return nil
	})

	a.Stop()
	// The grace period runs from the last renewal, which may be up to an
	// interval before Stop.
	lo, err := e.reg.Store.Get(e.ctx, registry.Leases.Resource, api.NodeLeaseNamespace, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	stopped := lo.(*coordinationv1.Lease).Spec.RenewTime.Time
	testenv.Eventually(t, 20*time.Second, "node-a NotReady and tainted, its pods not ready", func() error {
		n := e.getNode("node-a")
		var ready *corev1.NodeCondition
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == corev1.NodeReady {
				ready = &n.Status.Conditions[i]
			}
		}
		if ready == nil || ready.Status != corev1.ConditionUnknown || ready.Reason != "NodeStatusUnknown" {
			return fmt.Errorf("Ready %+v", ready)
		}
		if !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeUnreachable && t.Effect == corev1.TaintEffectNoExecute
		}) {
			return fmt.Errorf("taints %v", n.Spec.Taints)
		}
		for _, name := range onA {
			p := e.getPod(name) // not deleted yet: the eviction delay has not passed
			if c := condition(p, corev1.PodReady); c == nil || c.Status != corev1.ConditionFalse {
				return fmt.Errorf("pod %s Ready %+v", name, c)
			}
		}
		return nil
	})
	if d := time.Since(stopped); d < time.Second {
		t.Errorf("node-a went NotReady %v after its last renewal; want no sooner than the 1 s grace period", d)
	}
	testenv.Eventually(t, 20*time.Second, "node-a's pods replaced on node-b", func() error {
		pods := e.pods("web")
		for _, p := range pods {
			if slices.Contains(onA, p.Name) {
				return fmt.Errorf("pod %s of node-a still there", p.Name)
			}
			if p.Spec.NodeName != "node-b" || p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s on %q is %s", p.Name, p.Spec.NodeName, p.Status.Phase)
			}
		}
		if len(pods) != 4 {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
}

// Two schedulers campaign under ElectionKey: one leads and places pods;
// when it stops, the other takes over and places the next ones.
func TestSchedulerLeaderElection(t *testing.T) {
	e := newEnv(t)
	e.node("node-a", "4", "8Gi")
	client := e.reg.Store.Client()
	stops := map[string]func(){}
	for _, id := range []string{"one", "two"} {
		ctx, cancel := context.WithCancel(e.ctx)
		caches := store.NewCaches(e.reg.Store, nil) // a process of its own
		caches.Start(ctx)
		s := scheduler.New(scheduler.Config{Registry: e.reg, Caches: caches, Log: e.log})
		done := make(chan struct{})
		go func() {
			controller.RunElection(ctx, client, scheduler.ElectionKey, id, e.log, s)
			close(done)
		}()
		stops[id] = func() {
			cancel()
			<-done
		}
		t.Cleanup(stops[id])
	}
	bound := func(name string) func() error {
		return func() error {
			if n := e.getPod(name).Spec.NodeName; n != "node-a" {
				return fmt.Errorf("%s on %q", name, n)
			}
			return nil
		}
	}
	var leader string
	testenv.Eventually(t, 20*time.Second, "a leader", func() (err error) {
		if leader, err = controller.LeaderOf(e.ctx, client, scheduler.ElectionKey); err == nil && leader == "" {
			err = fmt.Errorf("none yet")
		}
		return err
	})
	e.pod("p1", "100m", "")
	testenv.Eventually(t, 20*time.Second, "p1 bound", bound("p1"))

	stops[leader]()
	testenv.Eventually(t, 20*time.Second, "the other leads", func() error {
		now, err := controller.LeaderOf(e.ctx, client, scheduler.ElectionKey)
		if err == nil && (now == leader || now == "") {
			err = fmt.Errorf("leader %q", now)
		}
		return err
	})
	e.pod("p2", "100m", "")
	testenv.Eventually(t, 20*time.Second, "p2 bound", bound("p2"))
}
