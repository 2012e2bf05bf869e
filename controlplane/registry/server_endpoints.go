package registry

import (
	"context"
	"net/netip"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// ServerService is a Service whose endpoints are Shoal's servers rather than
// pods: each server that serves it keeps an etcd key under Prefix, bound to
// a lease, and every server rewrites the Service's Endpoints and
// EndpointSlice from those keys (Kubernetes' "lease" endpoint reconciler,
// which it uses for the `kubernetes` Service alone).
type ServerService struct {
	Prefix          string
	Namespace, Name string
	// Ports are the Service's port names and protocols; each endpoint
	// serves all of them on the port its key gives.
	Ports []ServerPort
}

// ServerPort is a named port of a ServerService.
type ServerPort struct {
	Name     string
	Protocol corev1.Protocol
}

var (
	// KubernetesService lists the live API servers.
	KubernetesService = ServerService{Prefix: "/registry/masterleases/", Namespace: metav1.NamespaceDefault, Name: "kubernetes",
		Ports: []ServerPort{{"https", corev1.ProtocolTCP}}}
	// KubeDNSService lists the live servers' resolvers.
	KubeDNSService = ServerService{Prefix: "/registry/dnsleases/", Namespace: metav1.NamespaceSystem, Name: "kube-dns",
		Ports: []ServerPort{{"dns", corev1.ProtocolUDP}, {"dns-tcp", corev1.ProtocolTCP}}}

	serverServices = []ServerService{KubernetesService, KubeDNSService}
)

// DefaultServerLeaseTTL is how long a server that died stays in the
// endpoints of KubernetesService and KubeDNSService (at most; a server that
// stops cleanly leaves at once). Kubernetes uses 15 s for its API servers;
// Shoal's target is a dead server out of the endpoints within 5 s. A
// shorter TTL costs one etcd keep-alive per third of it per server, and
// drops a server whose etcd is slower than that to answer.
const DefaultServerLeaseTTL = 3 * time.Second

// serverLeaseTTL is r.ServerLeaseTTL or the default, in whole seconds (what
// etcd grants; at least one).
func (r *Registry) serverLeaseTTL() int64 {
	ttl := r.ServerLeaseTTL
	if ttl <= 0 {
		ttl = DefaultServerLeaseTTL
	}
	return max(int64((ttl+time.Second-1)/time.Second), 1)
}

// Run does the registry's background work until ctx ends: it keeps this API
// server (advertised at addr) in the `kubernetes` Service's endpoints, keeps
// the endpoints of every ServerService current, and finalizes terminating
// namespaces.
func (r *Registry) Run(ctx context.Context, addr netip.AddrPort) {
	go r.runNamespaceFinalizer(ctx)
	go r.runServerEndpoints(ctx)
	r.Advertise(ctx, KubernetesService, addr)
}

// Advertise keeps addr in svc's endpoints until ctx ends, then takes it out
// at once. While etcd cannot be reached the lease may lapse (the address
// leaves the endpoints); it is granted again when etcd answers.
func (r *Registry) Advertise(ctx context.Context, svc ServerService, addr netip.AddrPort) {
	client := r.Store.Client()
	key := svc.Prefix + addr.String()
	ttl := r.serverLeaseTTL()
	tick := time.NewTicker(time.Duration(ttl) * time.Second / 3)
	defer tick.Stop()
	var lease clientv3.LeaseID
	for {
		c, cancel := context.WithTimeout(ctx, time.Duration(ttl)*time.Second)
		if lease == 0 {
			if l, err := client.Grant(c, ttl); err == nil {
				if _, err := client.Put(c, key, addr.String(), clientv3.WithLease(l.ID)); err == nil {
					lease = l.ID
				}
			}
		} else if _, err := client.KeepAliveOnce(c, lease); err != nil {
			lease = 0 // expired while etcd was away: grant anew next round
		}
		cancel()
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

// runServerEndpoints rewrites a ServerService's endpoints whenever one of
// its keys changes (a server came, left, or its lease expired), and every
// TTL in case a watch missed something, until ctx ends.
func (r *Registry) runServerEndpoints(ctx context.Context) {
	client := r.Store.Client()
	changed := make(chan int, len(serverServices))
	for i, svc := range serverServices {
		go func() {
			for ctx.Err() == nil {
				wch := client.Watch(clientv3.WithRequireLeader(ctx), svc.Prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
				for resp := range wch {
					if resp.Err() != nil {
						break
					}
					select {
					case changed <- i:
					default: // one pending reconcile covers this change
					}
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	tick := time.NewTicker(time.Duration(r.serverLeaseTTL()) * time.Second)
	defer tick.Stop()
	reconcile := func(svc ServerService) {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.reconcileServerEndpoints(c, svc); err != nil && ctx.Err() == nil {
			r.Log.Warn("reconcile server endpoints", "service", svc.Namespace+"/"+svc.Name, "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case i := <-changed:
			reconcile(serverServices[i])
		case <-tick.C:
			for _, svc := range serverServices {
				reconcile(svc)
			}
		}
	}
}

// reconcileServerEndpoints writes the servers that hold a key under
// svc.Prefix into svc's Endpoints and EndpointSlice.
func (r *Registry) reconcileServerEndpoints(ctx context.Context, svc ServerService) error {
	resp, err := r.Store.Client().Get(ctx, svc.Prefix, clientv3.WithPrefix())
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
	addrs = slices.Compact(addrs)

	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name}}
	byPort := map[uint16][]string{}
	var ports []uint16
	for _, a := range addrs {
		if _, ok := byPort[a.Port()]; !ok {
			ports = append(ports, a.Port())
		}
		byPort[a.Port()] = append(byPort[a.Port()], a.Addr().String())
	}
	for _, p := range ports {
		var subset corev1.EndpointSubset
		for _, sp := range svc.Ports {
			subset.Ports = append(subset.Ports, corev1.EndpointPort{Name: sp.Name, Port: int32(p), Protocol: sp.Protocol})
		}
		for _, ip := range byPort[p] {
			subset.Addresses = append(subset.Addresses, corev1.EndpointAddress{IP: ip})
		}
		ep.Subsets = append(ep.Subsets, subset)
	}
	if err := r.apply(ctx, Endpoints, ep, func(cur, want store.Object) { cur.(*corev1.Endpoints).Subsets = want.(*corev1.Endpoints).Subsets }); err != nil {
		return err
	}
	return r.apply(ctx, EndpointSlices, serverSlice(svc, addrs), func(cur, want store.Object) {
		c, w := cur.(*discoveryv1.EndpointSlice), want.(*discoveryv1.EndpointSlice)
		c.Labels, c.Endpoints, c.Ports = w.Labels, w.Endpoints, w.Ports
	})
}

// serverSlice is svc's one EndpointSlice. A slice has one set of ports, so
// it lists the servers on the first port used (all of them when, as is
// usual, every server uses the same port).
func serverSlice(svc ServerService, addrs []netip.AddrPort) *discoveryv1.EndpointSlice {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "shoal-apiserver"}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if len(addrs) == 0 {
		return slice
	}
	ready := true
	port := int32(addrs[0].Port())
	for _, a := range addrs {
		if int32(a.Port()) == port {
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{a.Addr().String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
		}
	}
	for _, sp := range svc.Ports {
		name, proto := sp.Name, sp.Protocol
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port})
	}
	return slice
}
