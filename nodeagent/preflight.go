package nodeagent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/capability"
	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
)

// Preflight reports whether this process can run a node agent: root,
// CAP_NET_ADMIN and CAP_SYS_ADMIN, and a cgroup hierarchy. The error wraps
// ErrUnsupported and names everything that is missing, so that `shoal up`
// can say so and run the rest of the cluster without an agent.
func Preflight() error {
	missing := capability.Missing()
	if os.Geteuid() == 0 {
		if err := noderuntime.Check(); err != nil {
			missing = append(missing, "cgroups ("+err.Error()+")")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: it needs %s", ErrUnsupported, strings.Join(missing, ", "))
	}
	return nil
}

// DefaultNodeIP is the node's InternalIP when none is given: the first
// IPv4 address of the interface that holds the IPv4 default route.
func DefaultNodeIP() (netip.Addr, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			continue
		}
		link, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip.IsGlobalUnicast() {
				return ip, nil
			}
		}
	}
	// No default route: any global IPv4 address will do.
	ifaddrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range ifaddrs {
			if pn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(pn.IP.To4()); ok && ip.IsGlobalUnicast() {
					return ip, nil
				}
			}
		}
	}
	return netip.Addr{}, errors.New("no IPv4 address found: give the node IP")
}
