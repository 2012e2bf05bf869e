package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/netns"
)

// bridge returns the bridge, re-creating it if someone deleted it or took it
// down since New.
func (n *Network) bridge() (netlink.Link, error) {
	l, err := n.nl.LinkByName(n.cfg.Bridge)
	if err == nil && l.Type() == "bridge" && l.Attrs().Flags&net.FlagUp != 0 {
		return l, nil
	}
	n.bridgeMu.Lock()
	defer n.bridgeMu.Unlock()
	return n.ensureBridge()
}

// ensurePodLinks makes the pod's links: loopback up, a veth pair created
// with its peer directly inside the pod namespace as eth0 (so no "eth0" ever
// appears in the node's namespace), the host side on the bridge, the pod IP
// and the default route via the bridge.
func (n *Network) ensurePodLinks(r *record) error {
	br, err := n.bridge()
	if err != nil {
		return err
	}
	ns, err := netns.Open(r.NetNS)
	if err != nil {
		return err
	}
	defer ns.Close()
	pnl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("open netlink in %s: %w", r.NetNS, err)
	}
	defer pnl.Close()

	lo, err := pnl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find loopback: %w", err)
	}
	if err := pnl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring up loopback: %w", err)
	}

	host, err := n.pairedHostVeth(r, pnl)
	if err != nil {
		return err
	}
	if host == nil {
		if eth0, err := pnl.LinkByName(podInterface); err == nil {
			if err := pnl.LinkDel(eth0); err != nil {
				return fmt.Errorf("delete stale %s: %w", podInterface, err)
			}
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = r.HostVeth
		attrs.MTU = n.cfg.MTU
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: podInterface, PeerNamespace: netlink.NsFd(ns)}
		if err := n.nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s: %w", r.HostVeth, err)
		}
		if host, err = n.nl.LinkByName(r.HostVeth); err != nil {
			return fmt.Errorf("find veth %s: %w", r.HostVeth, err)
		}
		// The kernel ignores IFLA_IFALIAS on creation. Until it is set the
		// veth is still found through its record, and Teardown accepts an
		// empty alias.
		if err := n.nl.LinkSetAlias(host, n.vethAlias(r.Pod.UID)); err != nil {
			return fmt.Errorf("set alias of %s: %w", r.HostVeth, err)
		}
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := n.nl.LinkSetMaster(host, br); err != nil {
			return fmt.Errorf("attach %s to %s: %w", r.HostVeth, n.cfg.Bridge, err)
		}
	}
	if err := n.nl.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring up %s: %w", r.HostVeth, err)
	}

	eth0, err := pnl.LinkByName(podInterface)
	if err != nil {
		return fmt.Errorf("find pod %s: %w", podInterface, err)
	}
	addr := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(r.IP, n.cfg.PodCIDR.Bits()))}
	if err := pnl.AddrReplace(eth0, addr); err != nil {
		return fmt.Errorf("set pod address %v: %w", r.IP, err)
	}
	if err := pnl.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("bring up pod %s: %w", podInterface, err)
	}
	def := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: n.Gateway().AsSlice()}
	if err := pnl.RouteReplace(def); err != nil {
		return fmt.Errorf("set pod default route via %v: %w", n.Gateway(), err)
	}
	return nil
}

// pairedHostVeth returns the pod's host veth if it exists and its peer is
// eth0 in the pod namespace; otherwise nil, having removed an unpaired one.
func (n *Network) pairedHostVeth(r *record, pnl *netlink.Handle) (netlink.Link, error) {
	host, err := n.nl.LinkByName(r.HostVeth)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find veth %s: %w", r.HostVeth, err)
	}
	if !n.isPodVeth(host, r.Pod.UID) {
		return nil, fmt.Errorf("%w: interface %s exists and is not the veth of pod %s", ErrNameCollision, r.HostVeth, r.Pod.UID)
	}
	if eth0, err := pnl.LinkByName(podInterface); err == nil && eth0.Attrs().ParentIndex == host.Attrs().Index {
		if host.Attrs().Alias == "" {
			if err := n.nl.LinkSetAlias(host, n.vethAlias(r.Pod.UID)); err != nil {
				return nil, fmt.Errorf("set alias of %s: %w", r.HostVeth, err)
			}
		}
		return host, nil
	}
	if err := n.nl.LinkDel(host); err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("delete unpaired veth %s: %w", r.HostVeth, err)
	}
	return nil, nil
}

// isPodVeth: the name is derived from the UID, so a veth of that name with
// no alias yet is one whose creation was interrupted.
func (n *Network) isPodVeth(l netlink.Link, uid string) bool {
	a := l.Attrs().Alias
	return l.Type() == "veth" && (a == n.vethAlias(uid) || a == "")
}

func (n *Network) deleteHostVeth(name, uid string) error {
	l, err := n.nl.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find veth %s: %w", name, err)
	}
	if !n.isPodVeth(l, uid) {
		return nil
	}
	if err := n.nl.LinkDel(l); err != nil && !isNotFound(err) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete veth %s: %w", name, err)
	}
	return nil
}
