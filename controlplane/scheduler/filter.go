package scheduler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// nodeInfo is what filtering and scoring need of a node, computed once per
// change of the node rather than once per pod.
type nodeInfo struct {
	name          string
	labels        map[string]string
	ready         bool
	unschedulable bool
	// taints that keep pods off: NoSchedule and NoExecute.
	taints      []corev1.Taint
	allocatable resources
	// maxPods is the node's allocatable pods; 0 means no limit was given.
	maxPods int64
}

func newNodeInfo(n *corev1.Node) *nodeInfo {
	ni := &nodeInfo{name: n.Name, labels: n.Labels, unschedulable: n.Spec.Unschedulable,
		allocatable: listResources(n.Status.Allocatable)}
	if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok {
		ni.maxPods = q.Value()
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ni.ready = c.Status == corev1.ConditionTrue
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			ni.taints = append(ni.taints, t)
		}
	}
	return ni
}

// usage is what is placed on a node: pods bound to it that are not
// finished, and pods this scheduler bound that the cache has not shown yet.
type usage struct {
	requested resources
	nonzero   resources
	pods      int64
}

// The reasons a node is not feasible, worded as kube-scheduler words them so
// that the message of an unschedulable pod reads the same.
const (
	reasonUnschedulable = "node(s) were unschedulable"
	reasonNotReady      = "node(s) were not ready"
	reasonSelector      = "node(s) didn't match Pod's node affinity/selector"
	reasonCPU           = "Insufficient cpu"
	reasonMemory        = "Insufficient memory"
	reasonPods          = "Too many pods"
)

func reasonTaint(t *corev1.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// unschedulableTaint is what a pod tolerates to go on a cordoned node.
var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// filter reports why pod (which needs req) cannot go on n, which already
// holds u; nil means it fits. Like kube-scheduler, it stops at the first
// check that fails, except that a node short of both CPU and memory says so.
func filter(pod *corev1.Pod, req resources, n *nodeInfo, u usage) []string {
	if n.unschedulable && !tolerates(pod.Spec.Tolerations, &unschedulableTaint) {
		return []string{reasonUnschedulable}
	}
	if !n.ready {
		return []string{reasonNotReady}
	}
	for i := range n.taints {
		if !tolerates(pod.Spec.Tolerations, &n.taints[i]) {
			return []string{reasonTaint(&n.taints[i])}
		}
	}
	if !matchesNode(pod, n) {
		return []string{reasonSelector}
	}
	var out []string
	if n.maxPods > 0 && u.pods+1 > n.maxPods {
		out = append(out, reasonPods)
	}
	if req.milliCPU > 0 && u.requested.milliCPU+req.milliCPU > n.allocatable.milliCPU {
		out = append(out, reasonCPU)
	}
	if req.memory > 0 && u.requested.memory+req.memory > n.allocatable.memory {
		out = append(out, reasonMemory)
	}
	return out
}

// tolerates reports whether one of tols tolerates taint.
func tolerates(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(logr.Discard(), taint, true) {
			return true
		}
	}
	return false
}

// matchesNode reports whether the node satisfies the pod's nodeSelector and
// its required node affinity (terms ORed, expressions within a term ANDed).
func matchesNode(pod *corev1.Pod, n *nodeInfo) bool {
	for k, v := range pod.Spec.NodeSelector {
		if got, ok := n.labels[k]; !ok || got != v {
			return false
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if matchesTerm(term, n) {
			return true
		}
	}
	return false
}

func matchesTerm(term corev1.NodeSelectorTerm, n *nodeInfo) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false // an empty term matches nothing, as in Kubernetes
	}
	if !matchesRequirements(term.MatchExpressions, labels.Set(n.labels)) {
		return false
	}
	for _, f := range term.MatchFields {
		if f.Key != "metadata.name" {
			return false
		}
	}
	return matchesRequirements(term.MatchFields, labels.Set{"metadata.name": n.name})
}

var selectorOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn: selection.In, corev1.NodeSelectorOpNotIn: selection.NotIn,
	corev1.NodeSelectorOpExists: selection.Exists, corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt: selection.GreaterThan, corev1.NodeSelectorOpLt: selection.LessThan,
}

func matchesRequirements(reqs []corev1.NodeSelectorRequirement, set labels.Set) bool {
	for _, r := range reqs {
		op, ok := selectorOps[r.Operator]
		if !ok {
			return false
		}
		req, err := labels.NewRequirement(r.Key, op, r.Values)
		if err != nil || !req.Matches(set) {
			return false
		}
	}
	return true
}

// fitMessage words why a pod fits nowhere as kube-scheduler does:
// "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu."
func fitMessage(nodes int, reasons map[string]int) string {
	if nodes == 0 {
		return "no nodes available to schedule pods"
	}
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", nodes, strings.Join(parts, ", "))
}
