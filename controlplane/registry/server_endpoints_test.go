package registry_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// TestServerEndpoints: two API servers (registries on one etcd) each
// advertise their API and their resolver; the kubernetes and kube-dns
// Endpoints and EndpointSlices list both, with every port of the Service.
// One stopped cleanly leaves at once; a server that dies (its key's lease
// is never kept alive) leaves when the lease expires.
func TestServerEndpoints(t *testing.T) {
	e := storetest.StartEtcd(t)
	client := e.Client(t)
	regs := []*registry.Registry{newRegistry(t, e, ""), newRegistry(t, e, "")}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	stop := make([]context.CancelFunc, len(regs))
	for i, r := range regs {
		r.ServerLeaseTTL = time.Second
		c, cancelOne := context.WithCancel(ctx)
		stop[i] = cancelOne
		api := netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("10.0.0.%d", i+1)), 6443)
		dns := netip.AddrPortFrom(api.Addr(), 10053)
		wg.Go(func() { r.Run(c, api) })
		wg.Go(func() { r.Advertise(c, registry.KubeDNSService, dns) })
	}
	waitServerEndpoints(t, regs[0], registry.KubernetesService, "10.0.0.1:6443", "10.0.0.2:6443")
	waitServerEndpoints(t, regs[0], registry.KubeDNSService, "10.0.0.1:10053", "10.0.0.2:10053")

	stop[1]()
	start := time.Now()
	waitServerEndpoints(t, regs[0], registry.KubeDNSService, "10.0.0.1:10053")
	waitServerEndpoints(t, regs[0], registry.KubernetesService, "10.0.0.1:6443")
	t.Logf("a server stopped cleanly left the endpoints after %v", time.Since(start).Round(time.Millisecond))

	// A server that dies: its key stays until its lease expires.
	lease, err := client.Grant(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(t.Context(), registry.KubeDNSService.Prefix+"10.0.0.9:10053", "10.0.0.9:10053", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	waitServerEndpoints(t, regs[0], registry.KubeDNSService, "10.0.0.1:10053", "10.0.0.9:10053")
	start = time.Now()
	waitServerEndpoints(t, regs[0], registry.KubeDNSService, "10.0.0.1:10053")
	t.Logf("a dead server (1 s lease) left the endpoints after %v", time.Since(start).Round(time.Millisecond))
}

// waitServerEndpoints waits until svc's Endpoints and EndpointSlice list
// exactly addrs, each on every port of svc.
func waitServerEndpoints(t *testing.T, r *registry.Registry, svc registry.ServerService, addrs ...string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%s endpoints %v", svc.Name, addrs), func() error {
		obj, err := r.Store.Get(t.Context(), registry.Endpoints.Resource, svc.Namespace, svc.Name)
		if err != nil {
			return err
		}
		var got []string
		for _, ss := range obj.(*corev1.Endpoints).Subsets {
			if len(ss.Ports) != len(svc.Ports) {
				return fmt.Errorf("ports %v, want %d", ss.Ports, len(svc.Ports))
			}
			for i, p := range ss.Ports {
				if p.Name != svc.Ports[i].Name || p.Protocol != svc.Ports[i].Protocol || p.Port != ss.Ports[0].Port {
					return fmt.Errorf("port %d %+v, want %+v", i, p, svc.Ports[i])
				}
			}
			for _, a := range ss.Addresses {
				got = append(got, netip.AddrPortFrom(netip.MustParseAddr(a.IP), uint16(ss.Ports[0].Port)).String())
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, addrs) {
			return fmt.Errorf("endpoints %v", got)
		}
		obj, err = r.Store.Get(t.Context(), registry.EndpointSlices.Resource, svc.Namespace, svc.Name)
		if err != nil {
			return err
		}
		sl := obj.(*discoveryv1.EndpointSlice)
		var inSlice []string
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
				return fmt.Errorf("slice endpoint %v not ready", ep.Addresses)
			}
			inSlice = append(inSlice, netip.AddrPortFrom(netip.MustParseAddr(ep.Addresses[0]), uint16(*sl.Ports[0].Port)).String())
		}
		if !slices.Equal(inSlice, addrs) || len(sl.Ports) != len(svc.Ports) || sl.Labels[discoveryv1.LabelServiceName] != svc.Name {
			return fmt.Errorf("slice %v ports %d labels %v", inSlice, len(sl.Ports), sl.Labels)
		}
		return nil
	})
}
