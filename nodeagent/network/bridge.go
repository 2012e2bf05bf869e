package network

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ensureBridge creates or adopts the bridge (see EnsureBridge).
func (n *Network) ensureBridge() (netlink.Link, error) {
	return EnsureBridge(n.nl, n.cfg.Bridge, n.cfg.PodCIDR, n.cfg.MTU)
}

// EnsureBridge creates or adopts the bridge name in the namespace of nl,
// gives it exactly the gateway address (the first of podCIDR, with its
// length) and a fixed MAC, and brings it up. mtu 0 leaves the kernel's
// default. Another process creating the same bridge at the same time is
// not an error: the bridge is then adopted.
func EnsureBridge(nl *netlink.Handle, name string, podCIDR netip.Prefix, mtu int) (netlink.Link, error) {
	link, err := nl.LinkByName(name)
	if isNotFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		attrs.MTU = mtu
		// A fixed MAC: otherwise the bridge takes the lowest MAC of its ports
		// and changes it as pods come and go, leaving stale ARP entries in
		// every pod for the gateway.
		attrs.HardwareAddr = bridgeMAC(name, podCIDR)
		if err := nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
		link, err = nl.LinkByName(name)
	}
	if err != nil {
		return nil, fmt.Errorf("find bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return nil, fmt.Errorf("adopt bridge: %w: %s is a %s interface", ErrNotBridge, name, link.Type())
	}
	gw := GatewayPrefix(podCIDR)
	addrs, err := listRetry(func() ([]netlink.Addr, error) { return nl.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && p == gw {
			continue
		}
		// A former pod CIDR of this node: its pods were torn down on adoption.
		if err := nl.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return nil, fmt.Errorf("remove address %v from %s: %w", a.IPNet, name, err)
		}
	}
	if err := nl.AddrReplace(link, &netlink.Addr{IPNet: ipNet(gw)}); err != nil {
		return nil, fmt.Errorf("set address %v on %s: %w", gw, name, err)
	}
	if err := nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bring up %s: %w", name, err)
	}
	return link, nil
}

func (n *Network) deleteBridge() error { return DeleteBridge(n.nl, n.cfg.Bridge) }

// DeleteBridge deletes the bridge name in the namespace of nl, if there is
// one; an interface of that name that is not a bridge is left alone.
func DeleteBridge(nl *netlink.Handle, name string) error {
	link, err := nl.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return nil
	}
	if err := nl.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// Gateway is the bridge's address, the pods' default gateway: the first
// address of the pod CIDR.
func Gateway(podCIDR netip.Prefix) netip.Addr { return podCIDR.Addr().Next() }

// GatewayPrefix is the bridge's address with the pod CIDR's length.
func GatewayPrefix(podCIDR netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(Gateway(podCIDR), podCIDR.Bits())
}

// EnableForwarding turns on IPv4 forwarding in the namespace of the calling
// thread (run it through internal/netns.Do for another namespace). Pods
// reach other nodes and the outside only through a forwarding node. It is
// left on at shutdown.
func EnableForwarding() error {
	const path = "/proc/sys/net/ipv4/ip_forward"
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[0] == '1' {
		return nil
	}
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}

func bridgeMAC(name string, cidr netip.Prefix) net.HardwareAddr {
	sum := sha256.Sum256([]byte(name + "/" + cidr.String()))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfe | 0x02 // unicast, locally administered
	return mac
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return err != nil && errors.As(err, &nf)
}

// listRetry repeats a netlink dump that the kernel interrupted because the
// table changed under it; a few tries always succeed in practice.
func listRetry[T any](list func() ([]T, error)) ([]T, error) {
	var (
		out []T
		err error
	)
	for range 5 {
		out, err = list()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), ones), true
}
