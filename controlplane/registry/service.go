package registry

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// createTxn is what a create stores atomically with obj: for a Service, the
// claim on its ClusterIP (the requested one, or a new random pick on each
// attempt); for a Node, the claim on its pod CIDR.
func (r *Registry) createTxn(ctx context.Context, info *Info, obj store.Object, requested bool, attempt int) (store.Txn, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		if needsIP(o) {
			return r.claimIP(ctx, info, o, requested, attempt)
		}
	case *corev1.Node:
		return r.claimNodeCIDR(ctx, info, o, requested, attempt)
	}
	return store.Txn{}, nil
}

// allocatedError is the answer to a create or update whose claim failed: the
// address or range it asked for is someone else's.
func allocatedError(info *Info, obj store.Object) error {
	if n, ok := obj.(*corev1.Node); ok {
		return invalid(info, n.Name, field.ErrorList{field.Invalid(podCIDRPath(n), podCIDROf(n), "provided CIDR is already allocated")})
	}
	svc := obj.(*corev1.Service)
	return invalid(info, svc.Name, field.ErrorList{
		field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, "provided IP is already allocated")})
}

// rangeFullError is the answer to a create that found nothing free.
func (r *Registry) rangeFullError(obj store.Object) error {
	if _, ok := obj.(*corev1.Node); ok {
		return r.PodCIDRs.errFull()
	}
	return r.IPs.errRangeFull()
}

func (r *Registry) claimIP(ctx context.Context, info *Info, svc *corev1.Service, requested bool, attempt int) (store.Txn, error) {
	ip := svc.Spec.ClusterIP
	if requested {
		if err := r.IPs.checkRequested(ip); err != nil {
			return store.Txn{}, invalid(info, svc.Name, field.ErrorList{err})
		}
	} else {
		var err error
		if ip, err = r.IPs.pick(ctx, attempt); err != nil {
			return store.Txn{}, err
		}
	}
	setIP(svc, ip)
	return claim(ip, svc.Namespace+"/"+svc.Name), nil
}

// wantsIP reports whether obj is a Service asking for a specific ClusterIP.
func wantsIP(obj store.Object) bool {
	svc, ok := obj.(*corev1.Service)
	return ok && needsIP(svc) && svc.Spec.ClusterIP != ""
}

// carryClusterIP keeps a service's allocated address when an update (kubectl
// apply or replace of a manifest without one) leaves it empty.
func carryClusterIP(svc, old *corev1.Service) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.ClusterIP == "" || old.Spec.ClusterIP == corev1.ClusterIPNone {
		if svc.Spec.ClusterIP == "" && old.Spec.ClusterIP == corev1.ClusterIPNone && svc.Spec.Type != corev1.ServiceTypeExternalName {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
		}
		return
	}
	if svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
	}
	if len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIPs = old.Spec.ClusterIPs
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = old.Spec.IPFamilies
	}
	if svc.Spec.IPFamilyPolicy == nil {
		svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
	}
}

// allocateOnUpdate gives a service that changes from ExternalName (or from
// headless, which validation refuses) to ClusterIP an address; updateTxn
// claims it in the write.
func (r *Registry) allocateOnUpdate(ctx context.Context, info *Info, next, cur store.Object) error {
	svc, ok := next.(*corev1.Service)
	if !ok || !needsIP(svc) || ipOf(cur.(*corev1.Service)) != "" {
		return nil
	}
	_, err := r.claimIP(ctx, info, svc, svc.Spec.ClusterIP != "", 0)
	return err
}

// updateTxn releases or claims addresses when a service changes to or from
// ExternalName, and claims the pod CIDR given to a node that had none.
func (r *Registry) updateTxn(info *Info, next, cur store.Object) (store.Txn, error) {
	if n, ok := next.(*corev1.Node); ok {
		return r.nodeCIDRChange(info, n, cur.(*corev1.Node))
	}
	svc, ok := next.(*corev1.Service)
	if !ok {
		return store.Txn{}, nil
	}
	old := cur.(*corev1.Service)
	oldIP, newIP := ipOf(old), ipOf(svc)
	switch {
	case oldIP == newIP:
		return store.Txn{}, nil
	case newIP == "":
		return release(oldIP), nil
	default:
		t := claim(newIP, svc.Namespace+"/"+svc.Name)
		if oldIP != "" {
			t.Ops = append(t.Ops, release(oldIP).Ops...)
		}
		return t, nil
	}
}

func ipOf(svc *corev1.Service) string {
	if !needsIP(svc) {
		return ""
	}
	return svc.Spec.ClusterIP
}

// deleteTxn releases what the deleted object held.
func (r *Registry) deleteTxn(info *Info) func(store.Object) store.Txn {
	if info == Nodes {
		return func(o store.Object) store.Txn {
			if cidr := podCIDROf(o.(*corev1.Node)); cidr != "" && r.PodCIDRs != nil {
				return releasePodCIDR(cidr)
			}
			return store.Txn{}
		}
	}
	if info != Services {
		return nil
	}
	return func(o store.Object) store.Txn {
		if ip := ipOf(o.(*corev1.Service)); ip != "" {
			return release(ip)
		}
		return store.Txn{}
	}
}
