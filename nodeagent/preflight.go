package nodeagent

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
)

// Capabilities the agent needs besides root's uid: namespaces and mounts
// (CAP_SYS_ADMIN), bridges, veths and routes (CAP_NET_ADMIN).
const (
	capNetAdmin = 12
	capSysAdmin = 21
)

// Preflight reports whether this process can run a node agent: root,
// CAP_NET_ADMIN and CAP_SYS_ADMIN, and a cgroup hierarchy. The error wraps
// ErrUnsupported and names everything that is missing, so that `shoal up`
// can say so and run the rest of the cluster without an agent.
func Preflight() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the agent runs as uid "+strconv.Itoa(os.Geteuid())+")")
	}
	eff, err := effectiveCaps()
	switch {
	case err != nil:
		missing = append(missing, "a readable /proc/self/status ("+err.Error()+")")
	default:
		if eff&(1<<capNetAdmin) == 0 {
			missing = append(missing, "CAP_NET_ADMIN (for the pod bridge, veths and routes)")
		}
		if eff&(1<<capSysAdmin) == 0 {
			missing = append(missing, "CAP_SYS_ADMIN (for namespaces and mounts)")
		}
	}
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

// effectiveCaps reads the process's effective capability set.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff line")
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
