package proxy

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LoopbackVIPs puts each VIP on the loopback interface as a /32 (or
// /128). Traffic to it from the node, and from pods whose default route
// leads to the node, is delivered to the proxy's listeners.
type LoopbackVIPs struct{}

// Add puts ip on lo; an address already there is fine.
func (LoopbackVIPs) Add(ip netip.Addr) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: netlink.NewIPNet(ip.AsSlice())}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to lo: %w", ip, err)
	}
	return nil
}

// Remove takes ip off lo; an address not there is fine.
func (LoopbackVIPs) Remove(ip netip.Addr) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.AddrDel(lo, &netlink.Addr{IPNet: netlink.NewIPNet(ip.AsSlice())}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove %s from lo: %w", ip, err)
	}
	return nil
}
