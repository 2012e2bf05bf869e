package registry

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// A Node gets its pod CIDR from the registry when it is created without one:
// one range of the cluster pod CIDR, claimed in the Node's own transaction
// (see podcidr.go) and released when the Node is deleted. A Node created with
// a pod CIDR claims that one, and a range in use is refused. Once set, the
// pod CIDR does not change.

func podCIDRPath(n *corev1.Node) *field.Path {
	if n.Spec.PodCIDR == "" && len(n.Spec.PodCIDRs) > 0 {
		return field.NewPath("spec", "podCIDRs").Index(0)
	}
	return field.NewPath("spec", "podCIDR")
}

// podCIDROf is the node's pod CIDR, from either field.
func podCIDROf(n *corev1.Node) string {
	if n.Spec.PodCIDR != "" {
		return n.Spec.PodCIDR
	}
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs[0]
	}
	return ""
}

func setPodCIDR(n *corev1.Node, cidr string) {
	n.Spec.PodCIDR = cidr
	n.Spec.PodCIDRs = []string{cidr}
}

// wantsPodCIDR reports whether obj is a Node asking for a given pod CIDR.
func (r *Registry) wantsPodCIDR(obj store.Object) bool {
	n, ok := obj.(*corev1.Node)
	return ok && r.PodCIDRs != nil && podCIDROf(n) != ""
}

// claimNodeCIDR is the claim on a node's pod CIDR: the one it asks for, or
// a new pick on each attempt.
func (r *Registry) claimNodeCIDR(ctx context.Context, info *Info, n *corev1.Node, requested bool, attempt int) (store.Txn, error) {
	if r.PodCIDRs == nil {
		return store.Txn{}, nil
	}
	cidr := podCIDROf(n)
	if requested {
		if err := r.PodCIDRs.checkRequested(cidr, podCIDRPath(n)); err != nil {
			return store.Txn{}, invalid(info, n.Name, field.ErrorList{err})
		}
	} else {
		var err error
		if cidr, err = r.PodCIDRs.pick(ctx, attempt); err != nil {
			return store.Txn{}, err
		}
	}
	setPodCIDR(n, cidr)
	return claimPodCIDR(cidr, n.Name), nil
}

// carryPodCIDR keeps a node's pod CIDR when an update (kubectl apply or
// replace of a manifest without one) leaves it empty.
func carryPodCIDR(n, old *corev1.Node) {
	if podCIDROf(n) == "" && podCIDROf(old) != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = old.Spec.PodCIDR, old.Spec.PodCIDRs
	}
}

// nodeCIDRChange is the claim an update makes when it gives a node without a
// pod CIDR one (validation has refused any other change).
func (r *Registry) nodeCIDRChange(info *Info, n, old *corev1.Node) (store.Txn, error) {
	cidr := podCIDROf(n)
	if r.PodCIDRs == nil || cidr == "" || podCIDROf(old) != "" {
		return store.Txn{}, nil
	}
	if err := r.PodCIDRs.checkRequested(cidr, podCIDRPath(n)); err != nil {
		return store.Txn{}, invalid(info, n.Name, field.ErrorList{err})
	}
	return claimPodCIDR(cidr, n.Name), nil
}

func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	if cidr := podCIDROf(old); cidr != "" && podCIDROf(n) != cidr {
		return field.ErrorList{field.Forbidden(podCIDRPath(n), "node updates may not change podCIDR except from \"\" to a valid value")}
	}
	return nil
}
