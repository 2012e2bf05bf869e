package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol marks the routes Shoal owns (`ip route show proto 83`), so
// that SetPeerRoutes removes exactly those and never an operator's. The
// number is unassigned in /etc/iproute2/rt_protos.
const RouteProtocol netlink.RouteProtocol = 83

// Peer is another node, for host-gw routing: its pods are reached through
// its node IP, which must be on a network this node is directly attached to.
type Peer struct {
	PodCIDR netip.Prefix
	NodeIP  netip.Addr
}

// SetPeerRoutes makes the node's routes to other nodes' pod CIDRs exactly
// peers: a route per peer via its node IP, marked with RouteProtocol, and no
// other route of that protocol in the main table. The Network owns every
// route of that protocol in its namespace, also those of a previous agent.
//
// The whole list is checked before any route changes. A route the kernel
// refuses (a node IP that is not on-link, say) does not stop the others;
// the errors are returned together.
func (n *Network) SetPeerRoutes(ctx context.Context, peers []Peer) error {
	if err := n.enter(); err != nil {
		return err
	}
	defer n.life.RUnlock()
	if err := CheckPeers(n.cfg.PodCIDR, peers); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.replaceRoutes(peers)
}

// CheckPeers checks peers for a node whose pod CIDR is podCIDR: IPv4
// prefixes without host bits, not overlapping each other or podCIDR, each
// with an IPv4 node IP outside its own prefix.
func CheckPeers(podCIDR netip.Prefix, peers []Peer) error {
	for i, p := range peers {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: peer[%d] (%v via %v): %s", ErrInvalidConfig, i, p.PodCIDR, p.NodeIP, fmt.Sprintf(format, args...))
		}
		switch {
		case !p.PodCIDR.IsValid() || !p.PodCIDR.Addr().Is4():
			return bad("PodCIDR is not an IPv4 prefix")
		case p.PodCIDR.Masked() != p.PodCIDR:
			return bad("PodCIDR has host bits set")
		case !p.NodeIP.Is4():
			return bad("NodeIP is not an IPv4 address")
		case p.PodCIDR.Overlaps(podCIDR):
			return bad("PodCIDR overlaps this node's %v", podCIDR)
		case p.PodCIDR.Contains(p.NodeIP):
			return bad("NodeIP is inside its own PodCIDR")
		}
		for j, q := range peers[:i] {
			if p.PodCIDR.Overlaps(q.PodCIDR) {
				return bad("PodCIDR overlaps peer[%d]'s %v", j, q.PodCIDR)
			}
		}
	}
	return nil
}

func (n *Network) replaceRoutes(peers []Peer) error {
	n.routesMu.Lock()
	defer n.routesMu.Unlock()
	return ReplacePeerRoutes(n.nl, peers)
}

// ReplacePeerRoutes makes the routes of RouteProtocol in the main table of
// nl's namespace exactly peers (checked by the caller with CheckPeers): a
// route per peer via its node IP. A route the kernel refuses does not stop
// the others; the errors are returned together. Callers serialize calls for
// one namespace.
func ReplacePeerRoutes(nl *netlink.Handle, peers []Peer) error {
	filter := &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	have, err := listRetry(func() ([]netlink.Route, error) {
		return nl.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return fmt.Errorf("list peer routes: %w", err)
	}
	var errs []error
	for _, p := range peers {
		rt := &netlink.Route{
			Dst:      ipNet(p.PodCIDR),
			Gw:       p.NodeIP.AsSlice(),
			Protocol: RouteProtocol,
			Table:    unix.RT_TABLE_MAIN,
		}
		if err := nl.RouteReplace(rt); err != nil {
			errs = append(errs, fmt.Errorf("route %v via %v: %w", p.PodCIDR, p.NodeIP, err))
		}
	}
	for _, rt := range have {
		dst, ok := prefixOf(rt.Dst)
		if ok && slices.ContainsFunc(peers, func(p Peer) bool { return p.PodCIDR == dst }) {
			continue
		}
		if err := nl.RouteDel(&rt); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %v: %w", rt.Dst, err))
		}
	}
	return errors.Join(errs...)
}
