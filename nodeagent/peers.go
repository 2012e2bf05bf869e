package nodeagent

import (
	"context"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/shoalmesh/shoal/nodeagent/network"
)

// peerResync re-applies the routes even when no Node changed, repairing a
// route someone deleted.
const peerResync = 30 * time.Second

// runPeers keeps a host-gw route to every other node's pod CIDR via its
// InternalIP, from a watch on all Nodes.
func (a *Agent) runPeers(ctx context.Context) {
	factory := informers.NewSharedInformerFactory(a.client, 0)
	inf := factory.Core().V1().Nodes()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    poke,
		UpdateFunc: func(_, n any) { poke(n) },
		DeleteFunc: poke,
	})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return
	}
	var applied []network.Peer
	apply := true
	t := time.NewTicker(peerResync)
	defer t.Stop()
	for {
		nodes, _ := inf.Lister().List(labels.Everything())
		want := peersOf(nodes, a.cfg.NodeName)
		if apply || !slices.Equal(want, applied) {
			if err := a.net.SetPeerRoutes(ctx, want); err != nil && ctx.Err() == nil {
				a.log.Warn("set routes to other nodes' pods", "err", err)
			} else if !slices.Equal(want, applied) {
				a.log.Info("routes to other nodes' pods", "peers", len(want))
			}
			applied = want
		}
		apply = false
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
			apply = true
		}
	}
}

// peersOf is every other node with a pod CIDR and an InternalIP, sorted.
func peersOf(nodes []*corev1.Node, self string) []network.Peer {
	var out []network.Peer
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		cidr, err := netip.ParsePrefix(podCIDROf(n))
		if err != nil {
			continue
		}
		for _, addr := range n.Status.Addresses {
			if addr.Type != corev1.NodeInternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(addr.Address); err == nil && ip.Is4() {
				out = append(out, network.Peer{PodCIDR: cidr, NodeIP: ip})
				break
			}
		}
	}
	slices.SortFunc(out, func(x, y network.Peer) int { return x.PodCIDR.Addr().Compare(y.PodCIDR.Addr()) })
	return out
}
