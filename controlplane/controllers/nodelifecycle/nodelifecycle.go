// Package nodelifecycle marks nodes whose Lease is no longer renewed
// NotReady and moves their pods, as Kubernetes' node lifecycle controller
// does (see Controller).
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Shoal's node lifecycle defaults: a node is NotReady 4 s after its last
// heartbeat (Kubernetes: 40 s; agents renew every second, so four renewals
// in a row must fail) and its pods are deleted 5 s later (Kubernetes:
// 5 minutes), so a dead node's pods leave the endpoints within 5 s and its
// work moves within 15 s. Longer values ride out a slow or lossy network
// (a node marked NotReady during a brief stall has its pods taken out of the
// endpoints, and, after the eviction delay, replaced elsewhere).
const (
	DefaultNodeGracePeriod  = 4 * time.Second
	DefaultPodEvictionDelay = 5 * time.Second
)

// Reasons of the Ready conditions this controller writes.
const (
	reasonNodeStatusUnknown      = "NodeStatusUnknown"
	reasonNodeStatusNeverUpdated = "NodeStatusNeverUpdated"
	reasonNodeLeaseRenewed       = "NodeLeaseRenewed"
)

// Controller watches node heartbeats, the Leases node agents
// renew in kube-node-lease, as Kubernetes' node lifecycle controller does:
//
//   - a node whose Lease has not changed for the grace period gets
//     Ready=Unknown and the node.kubernetes.io/unreachable:NoExecute taint,
//     and at once its pods get Ready=False and ContainersReady=False, so that
//     EndpointSlices (and so DNS and xDS) drop them;
//   - after the eviction delay its pods are deleted, so their ReplicaSets
//     create new ones, which the scheduler puts on other nodes. A pod that
//     tolerates the taint stays for its tolerationSeconds (forever without);
//   - a node whose Lease is renewed again gets Ready=True (when this
//     controller had set it Unknown) and loses the taint. Pods it still runs
//     that were deleted meanwhile are the node agent's to stop: it runs what
//     the API says is bound to it, and nothing else;
//   - pods bound to a node that no longer exists are deleted after the
//     eviction delay (Kubernetes' pod garbage collector does this).
//
// Heartbeats are timed by when this process saw the Lease change, not by
// the agent's renewTime, so clocks need not agree. A new leader starts every
// node's grace period afresh, and flips a node back to Ready only after it has
// seen its Lease change.
//
// A grace period of a few seconds must not turn an outage of the control
// plane's own (etcd without a leader, this process's watch broken) into every
// node's: when no Lease at all has changed for the grace period, the
// controller cannot tell dead nodes from its own blindness, and marks
// nothing (Kubernetes stops evicting in such a "full disruption" too); when
// Leases change again, every node's grace period starts afresh. So the last
// node of a cluster, or all nodes dying at once, are not marked NotReady.
type Controller struct {
	reg          *registry.Registry
	caches       *store.Caches
	nodes        *store.Cache
	leases       *store.Cache
	pods         *store.Cache
	events       *controller.Recorder
	log          *slog.Logger
	grace, evict time.Duration

	mu        sync.Mutex
	beats     map[string]*heartbeat // by node name
	replaying bool                  // the Lease subscription is replaying the cache
	// heard is when any Lease last changed (or Run started); resumed is
	// when Leases changed again after a grace period of silence: every
	// node's grace period starts again from there.
	heard, resumed time.Time
	blind          bool // holding off since heard was last more than a grace period ago
}

type heartbeat struct {
	rv    string    // the Lease's resourceVersion last seen; "" if none yet
	seen  time.Time // when it last changed (or the node was first seen)
	alive bool      // it changed while this controller watched
	// tainted is when this controller tainted the node unreachable (the
	// taint's own timeAdded has only second precision).
	tainted time.Time
	// absent is when the node was found deleted with pods still bound to it.
	absent time.Time
}

var _ controller.Controller = (*Controller)(nil)

// Config times the controller; its zero value is the defaults.
type Config struct {
	// NodeGracePeriod is how long a node's Lease may go unrenewed before the
	// node is NotReady; 0 is DefaultNodeGracePeriod.
	NodeGracePeriod time.Duration
	// PodEvictionDelay is how long pods stay on a NotReady node (or one that
	// was deleted) before they are deleted; 0 is DefaultPodEvictionDelay.
	PodEvictionDelay time.Duration
}

// New returns the node lifecycle controller.
func New(d controller.Deps, cfg Config) *Controller {
	c := &Controller{
		reg: d.Registry, caches: d.Caches, events: d.Events, log: d.Logger(),
		nodes:  d.Caches.For(registry.Nodes.Resource),
		leases: d.Caches.For(registry.Leases.Resource),
		pods:   d.Caches.For(registry.Pods.Resource),
		grace:  cfg.NodeGracePeriod, evict: cfg.PodEvictionDelay,
	}
	if c.grace <= 0 {
		c.grace = DefaultNodeGracePeriod
	}
	if c.evict <= 0 {
		c.evict = DefaultPodEvictionDelay
	}
	return c
}

// Name implements controller.Controller.
func (c *Controller) Name() string { return "nodelifecycle" }

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context) {
	c.mu.Lock()
	c.beats = map[string]*heartbeat{}
	c.resumed, c.blind = time.Time{}, false
	c.mu.Unlock()
	var q *controller.Queue
	q = controller.NewQueue(c.Name(), c.log, func(ctx context.Context, key string) error { return c.sync(ctx, q, key) })
	// The Leases as they are now are the starting point, not renewals: wait
	// for the full list before taking it in.
	if err := c.caches.WaitSynced(ctx, registry.Nodes.Resource, registry.Leases.Resource, registry.Pods.Resource); err != nil {
		q.ShutDown()
		return
	}
	c.mu.Lock()
	c.replaying = true
	c.mu.Unlock()
	unsubscribe := c.leases.Subscribe(func(e store.Event) { c.onLease(q, e) })
	c.mu.Lock()
	c.replaying = false
	c.heard = time.Now() // the replay is no news of any node
	c.mu.Unlock()
	defer unsubscribe()
	defer c.nodes.Subscribe(func(e store.Event) { c.onNode(q, e) })()
	defer c.pods.Subscribe(func(e store.Event) { c.onPod(q, e) })()
	q.Run(ctx, 4)
}

// beat returns the heartbeat of node, starting its grace period now if it
// is new. c.mu must be held.
func (c *Controller) beat(node string) *heartbeat {
	hb := c.beats[node]
	if hb == nil {
		hb = &heartbeat{seen: time.Now()}
		c.beats[node] = hb
	}
	return hb
}

func (c *Controller) onLease(q *controller.Queue, e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	lease := e.Object.(*coordinationv1.Lease)
	if lease.Namespace != corev1.NamespaceNodeLease {
		return
	}
	if e.Type != watch.Deleted { // a deleted Lease is a silent one
		c.mu.Lock()
		hb := c.beat(lease.Name)
		if rv := lease.ResourceVersion; rv != hb.rv {
			now := time.Now()
			hb.rv, hb.seen = rv, now
			hb.alive = hb.alive || !c.replaying
			if now.Sub(c.heard) > c.grace {
				c.resumed = now
			}
			c.heard = now
		}
		c.mu.Unlock()
	}
	q.Add(lease.Name)
}

func (c *Controller) onNode(q *controller.Queue, e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	name := e.Object.GetName()
	c.mu.Lock()
	switch hb := c.beats[name]; {
	case e.Type == watch.Deleted:
		delete(c.beats, name) // its pods, if any, start the absence clock
	case hb != nil && !hb.absent.IsZero():
		// Deleted and created again: a new node.
		delete(c.beats, name)
	}
	c.beat(name)
	c.mu.Unlock()
	q.Add(name)
}

// onPod queues the node of a pod bound to a node that is unreachable or
// gone: a pod bound there meanwhile is handled like the others.
func (c *Controller) onPod(q *controller.Queue, e store.Event) {
	if !controller.IsChange(e) || e.Type == watch.Deleted {
		return
	}
	node := e.Object.(*corev1.Pod).Spec.NodeName
	if node == "" {
		return
	}
	if n, ok := c.nodes.Get("", node); !ok || readyStatus(n.(*corev1.Node)) == corev1.ConditionUnknown {
		q.Add(node)
	}
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	if c := readyCondition(n); c != nil {
		return c.Status
	}
	return ""
}

// sync brings one node (and the pods bound to it) in line with its heartbeat.
func (c *Controller) sync(ctx context.Context, q *controller.Queue, name string) error {
	now := time.Now()
	obj, ok := c.nodes.Get("", name)
	if !ok {
		return c.syncOrphans(ctx, q, name, now)
	}
	node := obj.(*corev1.Node)
	c.mu.Lock()
	hb := c.beat(name)
	silent, alive, leased := now.Sub(hb.seen), hb.alive, hb.rv != ""
	if restarted := now.Sub(c.resumed); restarted < silent && leased {
		silent = restarted
	}
	blind := now.Sub(c.heard) > c.grace
	logBlind := blind && !c.blind && leased && silent > c.grace
	c.blind = blind
	// A silent node is marked only once other Leases were heard for half a
	// grace period after its own last one: nodes that went quiet together
	// (the controller's watch or etcd stalled) are told apart from one that
	// died by a renewal that merely landed a little later than its own.
	heardSince := c.heard.Sub(hb.seen) >= c.grace/2
	c.mu.Unlock()
	if logBlind {
		c.log.Warn("no node's lease changed for the grace period: not marking nodes NotReady until one does", "grace", c.grace)
	}
	if silent > c.grace && (blind || !heardSince) && leased {
		q.AddAfter(name, c.grace/4)
		return nil
	}
	if silent > c.grace {
		return c.unreachable(ctx, q, node, silent, leased, now)
	}
	if alive {
		if err := c.reachable(ctx, node); err != nil {
			return err
		}
	}
	q.AddAfter(name, c.grace-silent+10*time.Millisecond)
	return nil
}

// unreachable marks a silent node Ready=Unknown, then its pods not ready
// (the order the kube-controller-manager keeps: whoever sees a pod leave
// the endpoints finds its node NotReady already), taints the node, and
// deletes its pods once their time has come.
func (c *Controller) unreachable(ctx context.Context, q *controller.Queue, node *corev1.Node, silent time.Duration, leased bool, now time.Time) error {
	pods := c.podsOn(node.Name)
	if readyStatus(node) != corev1.ConditionUnknown {
		cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: reasonNodeStatusUnknown,
			Message: fmt.Sprintf("Node agent stopped posting node status: its lease %s/%s was not renewed for %s.", corev1.NamespaceNodeLease, node.Name, silent.Round(time.Second))}
		if !leased {
			cond.Reason, cond.Message = reasonNodeStatusNeverUpdated, "Node agent never posted node status."
		}
		if err := c.setNodeReady(ctx, node.Name, cond); err != nil {
			return err
		}
		c.log.Info("node not ready", "node", node.Name, "silent", silent)
		c.events.Eventf(node, registry.Nodes, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	}
	if err := c.markPodsNotReady(ctx, pods); err != nil {
		return err
	}
	since, err := c.taintUnreachable(ctx, node, now)
	if err != nil {
		return err
	}
	var next time.Duration
	for _, p := range pods {
		delay, evict := evictionDelay(p, c.evict)
		if !evict {
			continue
		}
		if wait := since.Add(delay).Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		if err := c.deletePod(ctx, p, fmt.Sprintf("Deleting pod: node %s has been unreachable for %s", node.Name, now.Sub(since).Round(time.Second))); err != nil {
			return err
		}
	}
	if next > 0 {
		q.AddAfter(node.Name, next+10*time.Millisecond)
	}
	return nil
}

// reachable undoes what unreachable did to the node itself, once its Lease
// is renewed again.
func (c *Controller) reachable(ctx context.Context, node *corev1.Node) error {
	if cond := readyCondition(node); cond != nil && cond.Status == corev1.ConditionUnknown &&
		(cond.Reason == reasonNodeStatusUnknown || cond.Reason == reasonNodeStatusNeverUpdated) {
		if err := c.setNodeReady(ctx, node.Name, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: reasonNodeLeaseRenewed, Message: "Node agent is renewing its lease again."}); err != nil {
			return err
		}
		c.log.Info("node ready again", "node", node.Name)
		c.events.Eventf(node, registry.Nodes, corev1.EventTypeNormal, "NodeReady", "Node %s status is now: NodeReady", node.Name)
	}
	if !hasUnreachableTaint(node) {
		return nil
	}
	c.mu.Lock()
	c.beat(node.Name).tainted = time.Time{}
	c.mu.Unlock()
	_, err := c.reg.Update(ctx, registry.Nodes, "", node.Name, "", func(cur store.Object) (store.Object, error) {
		n := cur.(*corev1.Node)
		var keep []corev1.Taint
		for _, t := range n.Spec.Taints {
			if !isUnreachableTaint(&t) {
				keep = append(keep, t)
			}
		}
		n.Spec.Taints = keep
		n.ResourceVersion = ""
		return n, nil
	}, registry.WriteOptions{})
	return ignoreNotFound(err)
}

var unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}

func isUnreachableTaint(t *corev1.Taint) bool {
	return t.Key == unreachableTaint.Key && t.Effect == unreachableTaint.Effect
}

func hasUnreachableTaint(n *corev1.Node) bool {
	for i := range n.Spec.Taints {
		if isUnreachableTaint(&n.Spec.Taints[i]) {
			return true
		}
	}
	return false
}

// taintUnreachable adds the unreachable taint if the node lacks it, and
// returns since when the node has had it.
func (c *Controller) taintUnreachable(ctx context.Context, node *corev1.Node, now time.Time) (time.Time, error) {
	c.mu.Lock()
	hb := c.beat(node.Name)
	tainted := hb.tainted
	c.mu.Unlock()
	for _, t := range node.Spec.Taints {
		if isUnreachableTaint(&t) {
			switch {
			case !tainted.IsZero():
				return tainted, nil
			case t.TimeAdded != nil:
				return t.TimeAdded.Time, nil // tainted by a previous leader
			default:
				return now, nil
			}
		}
	}
	_, err := c.reg.Update(ctx, registry.Nodes, "", node.Name, "", func(cur store.Object) (store.Object, error) {
		n := cur.(*corev1.Node)
		if !hasUnreachableTaint(n) {
			t := unreachableTaint
			t.TimeAdded = &metav1.Time{Time: now}
			n.Spec.Taints = append(n.Spec.Taints, t)
		}
		n.ResourceVersion = ""
		return n, nil
	}, registry.WriteOptions{})
	if err != nil {
		return now, ignoreNotFound(err)
	}
	c.mu.Lock()
	c.beat(node.Name).tainted = now
	c.mu.Unlock()
	return now, nil
}

// setNodeReady writes the node's Ready condition through its status.
func (c *Controller) setNodeReady(ctx context.Context, name string, cond corev1.NodeCondition) error {
	_, err := c.reg.Update(ctx, registry.Nodes, "", name, "status", func(cur store.Object) (store.Object, error) {
		n := cur.(*corev1.Node)
		now := metav1.Now()
		cond.LastTransitionTime = now
		if old := readyCondition(n); old != nil {
			cond.LastHeartbeatTime = old.LastHeartbeatTime
			*old = cond
		} else {
			n.Status.Conditions = append(n.Status.Conditions, cond)
		}
		n.ResourceVersion = ""
		return n, nil
	}, registry.WriteOptions{})
	return ignoreNotFound(err)
}
