package registry

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// masterLeasePrefix holds one key per running API server, bound to an etcd
// lease, so the `kubernetes` Service's endpoints list exactly the live ones
// (Kubernetes' "lease" endpoint reconciler).
const masterLeasePrefix = "/registry/masterleases/"

const masterLeaseTTL = 15 // seconds

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

// Run does the registry's background work until ctx ends: it keeps this API
// server (advertised at addr) in the `kubernetes` Service's endpoints and
// finalizes terminating namespaces.
func (r *Registry) Run(ctx context.Context, addr netip.AddrPort) {
	go r.runNamespaceFinalizer(ctx)
	r.runMasterLease(ctx, addr)
}

func (r *Registry) runMasterLease(ctx context.Context, addr netip.AddrPort) {
	client := r.Store.Client()
	key := masterLeasePrefix + addr.String()
	tick := time.NewTicker(masterLeaseTTL * time.Second / 3)
	defer tick.Stop()
	var lease clientv3.LeaseID
	for {
		if lease == 0 {
			if l, err := client.Grant(ctx, masterLeaseTTL); err == nil {
				if _, err := client.Put(ctx, key, addr.String(), clientv3.WithLease(l.ID)); err == nil {
					lease = l.ID
				}
			}
		} else if _, err := client.KeepAliveOnce(ctx, lease); err != nil {
			lease = 0 // expired while etcd was away: grant anew next round
		}
		if err := r.reconcileKubernetesEndpoints(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("reconcile kubernetes endpoints", "err", err)
		}
		select {
		case <-ctx.Done():
			if lease != 0 {
				// Leave the endpoints at once rather than after the TTL.
				c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				client.Revoke(c, lease)
				cancel()
			}
			return
		case <-tick.C:
		}
	}
}

// reconcileKubernetesEndpoints writes the live API servers into the
// `kubernetes` Endpoints and EndpointSlice.
func (r *Registry) reconcileKubernetesEndpoints(ctx context.Context) error {
	resp, err := r.Store.Client().Get(ctx, masterLeasePrefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	var addrs []netip.AddrPort
	for _, kv := range resp.Kvs {
		if ap, err := netip.ParseAddrPort(string(kv.Value)); err == nil {
			addrs = append(addrs, ap)
		}
	}
	slices.SortFunc(addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })

	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "kubernetes"}}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "kubernetes",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "shoal-apiserver"}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	ready := true
	byPort := map[uint16][]string{}
	var ports []uint16
	for _, a := range addrs {
		if _, ok := byPort[a.Port()]; !ok {
			ports = append(ports, a.Port())
		}
		byPort[a.Port()] = append(byPort[a.Port()], a.Addr().String())
	}
	for _, p := range ports {
		subset := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Name: "https", Port: int32(p), Protocol: corev1.ProtocolTCP}}}
		for _, ip := range byPort[p] {
			subset.Addresses = append(subset.Addresses, corev1.EndpointAddress{IP: ip})
		}
		ep.Subsets = append(ep.Subsets, subset)
	}
	for _, a := range addrs {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{a.Addr().String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	if len(ports) > 0 {
		name, proto, port := "https", corev1.ProtocolTCP, int32(ports[0])
		slice.Ports = []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}}
	}
	if err := r.apply(ctx, Endpoints, ep, func(cur, want store.Object) { cur.(*corev1.Endpoints).Subsets = want.(*corev1.Endpoints).Subsets }); err != nil {
		return err
	}
	return r.apply(ctx, EndpointSlices, slice, func(cur, want store.Object) {
		c, w := cur.(*discoveryv1.EndpointSlice), want.(*discoveryv1.EndpointSlice)
		c.Labels, c.Endpoints, c.Ports = w.Labels, w.Endpoints, w.Ports
	})
}

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
