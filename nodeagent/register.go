package nodeagent

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeStatusInterval is how often the agent writes its Node's status (the
// conditions' heartbeat); a condition that changes is written at the next
// check, every nodeCheckInterval.
const (
	nodeStatusInterval = 10 * time.Second
	nodeCheckInterval  = 2 * time.Second
)

// Node condition reasons, kubelet's words.
const (
	reasonReady          = "KubeletReady"
	reasonNotReady       = "KubeletNotReady"
	reasonAgentStopped   = "NodeAgentStopped"
	memoryPressureFloor  = 100 << 20 // MemAvailable below this is memory pressure
	diskPressurePercent  = 10        // free space of the data dir's file system below this %
	pidPressurePercent   = 90        // processes above this % of pid_max
	registerMaxRetryWait = 30 * time.Second
)

// nodeState is the agent's last view of its Node, which only the agent
// writes (besides the node lifecycle controller's taints).
type nodeState struct {
	mu        sync.Mutex
	node      *corev1.Node
	lastWrite time.Time
}

// register creates or adopts the Node, retrying while the API server is
// unreachable, and sets a.podCIDR.
func (a *Agent) register(ctx context.Context) (*corev1.Node, error) {
	delay := 500 * time.Millisecond
	for {
		node, err := a.registerOnce(ctx)
		if err == nil {
			return node, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("register node %s: %w", a.cfg.NodeName, ctx.Err())
		}
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			return nil, fmt.Errorf("register node %s: %w", a.cfg.NodeName, err)
		}
		a.log.Warn("register node: will retry", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("register node %s: %w", a.cfg.NodeName, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, registerMaxRetryWait)
	}
}

func (a *Agent) registerOnce(ctx context.Context) (*corev1.Node, error) {
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		node, err = nodes.Create(ctx, a.newNode(a.cfg.PodCIDR), metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create node: %w", err)
		}
		a.log.Info("registered node", "pod_cidr", node.Spec.PodCIDR)
	case err != nil:
		return nil, fmt.Errorf("get node: %w", err)
	default:
		changed := false
		if node.Labels == nil {
			node.Labels = map[string]string{}
		}
		for k, v := range a.nodeLabels() {
			if node.Labels[k] != v {
				node.Labels[k], changed = v, true
			}
		}
		if podCIDROf(node) == "" && a.cfg.PodCIDR.IsValid() {
			node.Spec.PodCIDR, node.Spec.PodCIDRs = a.cfg.PodCIDR.String(), []string{a.cfg.PodCIDR.String()}
			changed = true
		}
		if changed {
			if node, err = nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
				return nil, fmt.Errorf("update node: %w", err)
			}
		}
		a.log.Info("adopted node", "pod_cidr", node.Spec.PodCIDR)
	}
	cidr := podCIDROf(node)
	if cidr == "" {
		return nil, fmt.Errorf("node %s has no pod CIDR yet (spec.podCIDR): the control plane allocates one when a node is created", node.Name)
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("node %s: pod CIDR %q is not an IPv4 prefix", node.Name, cidr)
	}
	if a.cfg.PodCIDR.IsValid() && p != a.cfg.PodCIDR {
		a.log.Warn("the node keeps the pod CIDR it has, not the one configured", "pod_cidr", p, "configured", a.cfg.PodCIDR)
	}
	a.podCIDR = p
	a.node.mu.Lock()
	defer a.node.mu.Unlock()
	a.node.node = node
	if err := a.writeNodeStatusLocked(ctx, true); err != nil {
		return nil, err
	}
	return a.node.node, nil
}

func podCIDROf(n *corev1.Node) string {
	if n.Spec.PodCIDR != "" {
		return n.Spec.PodCIDR
	}
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs[0]
	}
	return ""
}

func (a *Agent) nodeLabels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:   a.cfg.NodeName,
		corev1.LabelOSStable:   goruntime.GOOS,
		corev1.LabelArchStable: goruntime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		l[k] = v
	}
	return l
}

// newNode is the Node the agent registers, asking for podCIDR if valid.
func (a *Agent) newNode(podCIDR netip.Prefix) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: a.nodeLabels()}}
	if podCIDR.IsValid() {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDR.String(), []string{podCIDR.String()}
	}
	n.Status = a.nodeStatus(n, true, time.Now())
	return n
}

// nodeStatus is the status the agent reports, keeping the transition times
// of conditions that did not change.
func (a *Agent) nodeStatus(old *corev1.Node, ready bool, now time.Time) corev1.NodeStatus {
	st := *old.Status.DeepCopy()
	if rl, err := capacity(a.cfg.DataDir, a.cfg.MaxPods); err == nil {
		st.Capacity, st.Allocatable = rl, rl.DeepCopy()
	}
	st.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: a.cfg.NodeIP.String()},
		{Type: corev1.NodeHostName, Address: a.cfg.NodeName},
	}
	st.DaemonEndpoints.KubeletEndpoint.Port = int32(a.logAddr.Port())
	st.NodeInfo = nodeInfo(a.cfg.Version, a.runtimeVersion)
	hb := metav1.NewTime(now.Truncate(time.Second))
	set := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: hb, LastTransitionTime: hb}
		for i := range st.Conditions {
			if st.Conditions[i].Type == t {
				if st.Conditions[i].Status == s {
					c.LastTransitionTime = st.Conditions[i].LastTransitionTime
				}
				st.Conditions[i] = c
				return
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	memPressure, diskPressure, pidPressure := pressures(a.cfg.DataDir)
	set(corev1.NodeMemoryPressure, condStatus(memPressure), pick(memPressure, "KubeletHasInsufficientMemory", "KubeletHasSufficientMemory"),
		pick(memPressure, "node has less than 100Mi of memory available", "node has sufficient memory available"))
	set(corev1.NodeDiskPressure, condStatus(diskPressure), pick(diskPressure, "KubeletHasDiskPressure", "KubeletHasNoDiskPressure"),
		pick(diskPressure, "node's data dir has less than 10% free space", "node has no disk pressure"))
	set(corev1.NodePIDPressure, condStatus(pidPressure), pick(pidPressure, "KubeletHasInsufficientPID", "KubeletHasSufficientPID"),
		pick(pidPressure, "node uses more than 90% of pid_max", "node has sufficient PID available"))
	switch problem := a.health.problem(); {
	case !ready:
		set(corev1.NodeReady, corev1.ConditionFalse, reasonAgentStopped, "the node agent stopped, and its pods with it")
	case problem != "":
		set(corev1.NodeReady, corev1.ConditionFalse, reasonNotReady, problem)
	default:
		set(corev1.NodeReady, corev1.ConditionTrue, reasonReady, "shoal node agent is posting ready status")
	}
	return st
}

func condStatus(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// pressures reports memory, disk and PID pressure as kubelet's eviction
// manager would see it, with fixed thresholds.
func pressures(dataDir string) (mem, disk, pid bool) {
	if m, err := readMeminfo(); err == nil {
		if avail, ok := m["MemAvailable"]; ok {
			mem = avail < memoryPressureFloor
		}
	}
	var fs unix.Statfs_t
	if unix.Statfs(dataDir, &fs) == nil && fs.Blocks > 0 {
		disk = fs.Bavail*100 < fs.Blocks*diskPressurePercent
	}
	if max, err := strconv.Atoi(readTrimmed("/proc/sys/kernel/pid_max")); err == nil && max > 0 {
		if entries, err := os.ReadDir("/proc"); err == nil {
			n := 0
			for _, e := range entries {
				if c := e.Name()[0]; c >= '0' && c <= '9' {
					n++
				}
			}
			pid = n*100 > max*pidPressurePercent
		}
	}
	return mem, disk, pid
}

// runNodeStatus keeps the Node's status fresh until ctx ends.
func (a *Agent) runNodeStatus(ctx context.Context, _ *corev1.Node) {
	t := time.NewTicker(nodeCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.node.mu.Lock()
		due := time.Since(a.node.lastWrite) >= nodeStatusInterval || a.nodeConditionsChanged()
		if due {
			if err := a.writeNodeStatusLocked(ctx, true); err != nil && ctx.Err() == nil {
				a.log.Warn("update node status", "err", err)
			}
		}
		a.node.mu.Unlock()
	}
}

// nodeConditionsChanged reports whether a condition's status would change.
// a.node.mu is held.
func (a *Agent) nodeConditionsChanged() bool {
	cur := a.node.node
	want := a.nodeStatus(cur, true, time.Now())
	for _, w := range want.Conditions {
		found := false
		for _, c := range cur.Status.Conditions {
			if c.Type == w.Type {
				found = true
				if c.Status != w.Status {
					return true
				}
			}
		}
		if !found {
			return true
		}
	}
	return false
}

// writeNodeStatusLocked writes the node's status, re-reading the Node on a
// conflict. a.node.mu is held.
func (a *Agent) writeNodeStatusLocked(ctx context.Context, ready bool) error {
	nodes := a.client.CoreV1().Nodes()
	for attempt := 0; ; attempt++ {
		n := a.node.node.DeepCopy()
		n.Status = a.nodeStatus(n, ready, time.Now())
		out, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if err == nil {
			a.node.node, a.node.lastWrite = out, time.Now()
			return nil
		}
		if apierrors.IsNotFound(err) && attempt < 3 {
			// Someone deleted the Node under the running agent: register it
			// again, with the pod CIDR its network uses.
			created, cerr := nodes.Create(ctx, a.newNode(a.podCIDR), metav1.CreateOptions{})
			if cerr != nil {
				return fmt.Errorf("the node was deleted; register it again: %w", cerr)
			}
			a.log.Warn("the node was deleted while the agent ran: registered it again")
			a.node.node = created
			continue
		}
		if !apierrors.IsConflict(err) || attempt >= 3 {
			return fmt.Errorf("update node status: %w", err)
		}
		fresh, gerr := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("update node status: %w", gerr)
		}
		a.node.node = fresh
	}
}

// markNodeStopped reports the node not ready once the agent has stopped
// its pods, so that nothing is scheduled onto it until an agent runs again.
func (a *Agent) markNodeStopped(ctx context.Context) {
	a.node.mu.Lock()
	defer a.node.mu.Unlock()
	if a.node.node == nil {
		return
	}
	if err := a.writeNodeStatusLocked(ctx, false); err != nil {
		a.log.Warn("mark node not ready", "err", err)
	}
}
