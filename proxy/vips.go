package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LoopbackVIPs puts each VIP on the loopback interface as a /32 (or
// /128). Traffic to it from the node, and from pods whose default route
// leads to the node, is delivered to the proxy's listeners. An address
// that was on lo before Add (someone else's) is used but never removed.
// Use it by pointer; the zero value is ready.
type LoopbackVIPs struct {
	mu      sync.Mutex
	foreign map[netip.Addr]bool
}

// Add puts ip on lo; an address already there is fine.
func (v *LoopbackVIPs) Add(ip netip.Addr) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	err = netlink.AddrAdd(lo, &netlink.Addr{IPNet: netlink.NewIPNet(ip.AsSlice())})
	switch {
	case errors.Is(err, unix.EEXIST):
		v.mu.Lock()
		if v.foreign == nil {
			v.foreign = map[netip.Addr]bool{}
		}
		v.foreign[ip] = true
		v.mu.Unlock()
	case err != nil:
		return fmt.Errorf("add %s to lo: %w", ip, err)
	}
	return nil
}

// Remove takes ip off lo, unless it was there before Add; an address not
// there is fine.
func (v *LoopbackVIPs) Remove(ip netip.Addr) error {
	v.mu.Lock()
	foreign := v.foreign[ip]
	delete(v.foreign, ip)
	v.mu.Unlock()
	if foreign {
		return nil
	}
	return RemoveFromLoopback(ip)
}

// RemoveFromLoopback takes ip off lo whoever put it there; an address not
// there is fine.
func RemoveFromLoopback(ip netip.Addr) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.AddrDel(lo, &netlink.Addr{IPNet: netlink.NewIPNet(ip.AsSlice())}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove %s from lo: %w", ip, err)
	}
	return nil
}
