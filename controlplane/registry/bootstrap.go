package registry

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// Bootstrap creates what must exist before anything else: the system
// namespaces and the `kubernetes` Service. It is safe to run on every start
// and from several API servers at once.
func (r *Registry) Bootstrap(ctx context.Context) error {
	for _, name := range SystemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := r.Create(ctx, Namespaces, ns, WriteOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "kubernetes",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: r.IPs.nth(1).String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(6443)}},
		},
	}
	if _, err := r.Create(ctx, Services, svc, WriteOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the kubernetes service: %w", err)
	}
	// The cluster DNS Service, as kubeadm makes it: its address (the tenth
	// of the range, 10.96.0.10 by default) is what pods' resolv.conf names,
	// so it is reserved here before anything else can take it.
	dns := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: "kube-dns",
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: r.IPs.ClusterDNSIP().String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	if _, err := r.Create(ctx, Services, dns, WriteOptions{}); err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsInvalid(err) {
		return fmt.Errorf("create the kube-dns service: %w", err)
	}
	return nil
}

// ClusterDNSIP is the cluster DNS Service's address in the service range.
func (r *Registry) ClusterDNSIP() netip.Addr { return r.IPs.ClusterDNSIP() }

// ClusterDNSIP is the address the cluster DNS Service gets: the tenth of
// the range, as kubeadm does (10.96.0.10 in 10.96.0.0/16).
func (a *IPAllocator) ClusterDNSIP() netip.Addr { return a.nth(10) }

// apply creates want, or updates the existing object with set (an update
// that changes nothing is not written).
func (r *Registry) apply(ctx context.Context, info *Info, want store.Object, set func(cur, want store.Object)) error {
	_, err := r.Update(ctx, info, want.GetNamespace(), want.GetName(), "", func(cur store.Object) (store.Object, error) {
		set(cur, want)
		cur.SetResourceVersion("")
		return cur, nil
	}, WriteOptions{})
	if apierrors.IsNotFound(err) {
		_, err = r.Create(ctx, info, want.DeepCopyObject().(store.Object), WriteOptions{})
	}
	return err
}
