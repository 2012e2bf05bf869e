package nodeagent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/capability"
	"github.com/shoalmesh/shoal/nodeagent/cni"
)

// runtimeBinaries are what an agent that starts its own containerd needs:
// Debian's containerd (with ctr, for importing built-in images, and the
// runc shim), runc, and the CNI plugins it configures.
var runtimeBinaries = []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"}

// cniPlugins are the stock CNI plugins the pod network needs besides
// Shoal's own (the shoal binary): containerd's loopback.
var cniPlugins = []string{"loopback"}

// Preflight reports whether this process can run a node agent: root,
// CAP_NET_ADMIN and CAP_SYS_ADMIN, a cgroup hierarchy, and — unless it uses
// the runtime at runtimeEndpoint — containerd, runc and the CNI plugins.
// The error wraps ErrUnsupported and names everything that is missing, so
// that `shoal up` can say so and run the rest of the cluster without an
// agent.
func Preflight(runtimeEndpoint string) error {
	missing := capability.Missing()
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		missing = append(missing, "cgroups (/sys/fs/cgroup)")
	}
	if runtimeEndpoint == "" {
		var bins []string
		for _, b := range runtimeBinaries {
			if _, err := exec.LookPath(b); err != nil {
				bins = append(bins, b)
			}
		}
		for _, p := range cniPlugins {
			if _, err := os.Stat(filepath.Join(cni.StockPluginDir, p)); err != nil {
				bins = append(bins, filepath.Join(cni.StockPluginDir, p))
			}
		}
		if len(bins) > 0 {
			missing = append(missing, strings.Join(bins, ", ")+
				" (apt-get install containerd runc containernetworking-plugins, or give --container-runtime-endpoint)")
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
