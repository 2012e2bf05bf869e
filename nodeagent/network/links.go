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

// PodLink is a pod's veth pair, as AttachPod makes it.
type PodLink struct {
	// HostVeth is the host side's name (at most 15 bytes), put on the
	// bridge; Alias is set on it to say whose it is.
	HostVeth, Alias string
	// IfName is the pod side's name inside the pod's namespace (eth0).
	IfName string
	// Addr is the pod's address with the pod CIDR's length; Gateway the
	// bridge's address, the pod's default route.
	Addr    netip.Prefix
	Gateway netip.Addr
	// MTU of both ends; 0 leaves the kernel's default.
	MTU int
}

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

// ensurePodLinks makes the pod's links: loopback up, then AttachPod.
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
	_, _, err = AttachPod(n.nl, br, ns, pnl, PodLink{
		HostVeth: r.HostVeth,
		Alias:    n.vethAlias(r.Pod.UID),
		IfName:   podInterface,
		Addr:     netip.PrefixFrom(r.IP, n.cfg.PodCIDR.Bits()),
		Gateway:  n.Gateway(),
		MTU:      n.cfg.MTU,
	})
	return err
}

// AttachPod makes or repairs l: a veth pair created with its peer directly
// inside the pod's namespace as l.IfName (so that name never appears in the
// node's namespace), the host side on br and up, the pod side up with
// l.Addr and a default route via l.Gateway. nl works in the node's
// namespace (br's), pnl in the pod's, podNS. It is idempotent: a pair that
// exists is kept, an unpaired host veth or pod interface is replaced, and a
// host veth of that name with another owner's alias is ErrNameCollision.
func AttachPod(nl *netlink.Handle, br netlink.Link, podNS netns.Handle, pnl *netlink.Handle, l PodLink) (host, pod netlink.Link, err error) {
	host, err = pairedHostVeth(nl, pnl, l)
	if err != nil {
		return nil, nil, err
	}
	if host == nil {
		if stale, err := pnl.LinkByName(l.IfName); err == nil {
			if err := pnl.LinkDel(stale); err != nil {
				return nil, nil, fmt.Errorf("delete stale %s: %w", l.IfName, err)
			}
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = l.HostVeth
		attrs.MTU = l.MTU
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: l.IfName, PeerNamespace: netlink.NsFd(podNS)}
		if err := nl.LinkAdd(veth); err != nil {
			return nil, nil, fmt.Errorf("create veth %s: %w", l.HostVeth, err)
		}
		if host, err = nl.LinkByName(l.HostVeth); err != nil {
			return nil, nil, fmt.Errorf("find veth %s: %w", l.HostVeth, err)
		}
		// The kernel ignores IFLA_IFALIAS on creation. Until it is set the
		// veth is still recognized by its name: DeleteHostVeth accepts an
		// empty alias.
		if err := nl.LinkSetAlias(host, l.Alias); err != nil {
			return nil, nil, fmt.Errorf("set alias of %s: %w", l.HostVeth, err)
		}
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := nl.LinkSetMaster(host, br); err != nil {
			return nil, nil, fmt.Errorf("attach %s to %s: %w", l.HostVeth, br.Attrs().Name, err)
		}
	}
	if err := nl.LinkSetUp(host); err != nil {
		return nil, nil, fmt.Errorf("bring up %s: %w", l.HostVeth, err)
	}

	pod, err = pnl.LinkByName(l.IfName)
	if err != nil {
		return nil, nil, fmt.Errorf("find pod %s: %w", l.IfName, err)
	}
	if err := pnl.AddrReplace(pod, &netlink.Addr{IPNet: ipNet(l.Addr)}); err != nil {
		return nil, nil, fmt.Errorf("set pod address %v: %w", l.Addr, err)
	}
	if err := pnl.LinkSetUp(pod); err != nil {
		return nil, nil, fmt.Errorf("bring up pod %s: %w", l.IfName, err)
	}
	def := &netlink.Route{LinkIndex: pod.Attrs().Index, Gw: l.Gateway.AsSlice()}
	if err := pnl.RouteReplace(def); err != nil {
		return nil, nil, fmt.Errorf("set pod default route via %v: %w", l.Gateway, err)
	}
	return host, pod, nil
}

// pairedHostVeth returns the pod's host veth if it exists and its peer is
// l.IfName in the pod namespace; otherwise nil, having removed an unpaired
// one.
func pairedHostVeth(nl, pnl *netlink.Handle, l PodLink) (netlink.Link, error) {
	host, err := nl.LinkByName(l.HostVeth)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find veth %s: %w", l.HostVeth, err)
	}
	if !isVethOf(host, l.Alias) {
		return nil, fmt.Errorf("%w: interface %s exists and is not the veth of %s (alias %q)", ErrNameCollision, l.HostVeth, l.Alias, host.Attrs().Alias)
	}
	if pod, err := pnl.LinkByName(l.IfName); err == nil && pod.Attrs().ParentIndex == host.Attrs().Index {
		if host.Attrs().Alias == "" {
			if err := nl.LinkSetAlias(host, l.Alias); err != nil {
				return nil, fmt.Errorf("set alias of %s: %w", l.HostVeth, err)
			}
		}
		return host, nil
	}
	if err := nl.LinkDel(host); err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("delete unpaired veth %s: %w", l.HostVeth, err)
	}
	return nil, nil
}

// isVethOf: the name is derived from the owner, so a veth of that name with
// no alias yet is one whose creation was interrupted.
func isVethOf(l netlink.Link, alias string) bool {
	a := l.Attrs().Alias
	return l.Type() == "veth" && (a == alias || a == "")
}

func (n *Network) deleteHostVeth(name, uid string) error {
	return DeleteHostVeth(n.nl, name, n.vethAlias(uid))
}

// DeleteHostVeth deletes the host veth name (and so its peer) if it is the
// one AttachPod made with alias. A missing veth, or an interface of that
// name that is not it, is not an error.
func DeleteHostVeth(nl *netlink.Handle, name, alias string) error {
	l, err := nl.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find veth %s: %w", name, err)
	}
	if !isVethOf(l, alias) {
		return nil
	}
	if err := nl.LinkDel(l); err != nil && !isNotFound(err) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete veth %s: %w", name, err)
	}
	return nil
}

// CheckPod reports the first way in which l differs from what AttachPod
// makes: the host veth on br, up, with l.Alias and paired with l.IfName in
// the pod's namespace, which is up with l.Addr and a default route via
// l.Gateway. It changes nothing.
func CheckPod(nl *netlink.Handle, br netlink.Link, pnl *netlink.Handle, l PodLink) error {
	host, err := nl.LinkByName(l.HostVeth)
	if err != nil {
		return fmt.Errorf("host veth %s: %w", l.HostVeth, err)
	}
	ha := host.Attrs()
	switch {
	case host.Type() != "veth" || ha.Alias != l.Alias:
		return fmt.Errorf("host interface %s is a %s with alias %q, want the veth %q", l.HostVeth, host.Type(), ha.Alias, l.Alias)
	case ha.MasterIndex != br.Attrs().Index:
		return fmt.Errorf("host veth %s is not on bridge %s", l.HostVeth, br.Attrs().Name)
	case ha.Flags&net.FlagUp == 0:
		return fmt.Errorf("host veth %s is down", l.HostVeth)
	}
	pod, err := pnl.LinkByName(l.IfName)
	if err != nil {
		return fmt.Errorf("pod interface %s: %w", l.IfName, err)
	}
	switch {
	case pod.Attrs().ParentIndex != ha.Index:
		return fmt.Errorf("pod interface %s is not the peer of host veth %s", l.IfName, l.HostVeth)
	case pod.Attrs().Flags&net.FlagUp == 0:
		return fmt.Errorf("pod interface %s is down", l.IfName)
	}
	addrs, err := listRetry(func() ([]netlink.Addr, error) { return pnl.AddrList(pod, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list addresses of pod %s: %w", l.IfName, err)
	}
	found := false
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && p == l.Addr {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("pod interface %s lacks address %v", l.IfName, l.Addr)
	}
	routes, err := listRetry(func() ([]netlink.Route, error) { return pnl.RouteList(pod, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list routes of pod %s: %w", l.IfName, err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			if gw, ok := netip.AddrFromSlice(r.Gw); ok && gw.Unmap() == l.Gateway {
				return nil
			}
		}
	}
	return fmt.Errorf("pod has no default route via %v on %s", l.Gateway, l.IfName)
}
