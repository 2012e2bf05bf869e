package nodeagent_test

import (
	"crypto/rand"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
)

// What an agent leaves in the kernel, and how tests remove it.

// freePodCIDR picks a /24 of the cluster pod CIDR in its upper half that no
// route on this machine overlaps (other engineers' tests share it).
func freePodCIDR(t *testing.T) netip.Prefix {
	t.Helper()
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		b := make([]byte, 1)
		rand.Read(b)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, 128 + b[0]%126, 0}), 24)
		used := false
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			if rp, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok {
				ones, _ := r.Dst.Mask.Size()
				if ones > 0 && netip.PrefixFrom(rp, ones).Overlaps(p) {
					used = true
				}
			}
		}
		if !used {
			return p
		}
	}
	t.Fatal("no free pod CIDR")
	return netip.Prefix{}
}

func removeTestCgroups() {
	if os.Geteuid() == 0 {
		nodeagenttest.RemoveCgroups(testCgroupRoot)
	}
}

// cleanupKernel removes whatever an agent with cfg left: processes and
// cgroups, interfaces, namespaces and routes.
func cleanupKernel(t *testing.T, cfg nodeagent.Config) {
	nodeagenttest.RemoveCgroups(cfg.CgroupRoot)
	links, _ := netlink.LinkList()
	for _, l := range links {
		a := l.Attrs()
		if a.Name == cfg.Bridge || strings.HasPrefix(a.Alias, "shoal:"+cfg.Bridge+":") {
			netlink.LinkDel(l)
		}
	}
	entries, _ := os.ReadDir(cfg.NetnsDir)
	for _, e := range entries {
		p := filepath.Join(cfg.NetnsDir, e.Name())
		unix.Unmount(p, unix.MNT_DETACH)
		os.Remove(p)
	}
}

// leaks lists what of an agent with cfg is left in the kernel and its
// state: processes, cgroups, namespaces, veths and IPs.
func leaks(cfg nodeagent.Config) []string {
	var out []string
	for _, cg := range cgroupsBelow(cfg.CgroupRoot) {
		out = append(out, "cgroup "+cg)
	}
	entries, _ := os.ReadDir(cfg.NetnsDir)
	for _, e := range entries {
		out = append(out, "netns "+e.Name())
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, "shoal:"+cfg.Bridge+":") {
			out = append(out, "veth "+l.Attrs().Name)
		}
	}
	if b, err := os.ReadFile(filepath.Join(cfg.DataDir, "network", "ipam.json")); err == nil {
		var st struct {
			Allocations map[string]string `json:"allocations"`
		}
		if json.Unmarshal(b, &st) == nil {
			for ip, uid := range st.Allocations {
				out = append(out, "ip "+ip+" of "+uid)
			}
		}
	}
	for _, pid := range nodeagenttest.ProcessesIn(cfg.CgroupRoot) {
		out = append(out, "process "+strconv.Itoa(pid))
	}
	return out
}

// cgroupsBelow lists the cgroups strictly below root in every hierarchy
// (root itself may stay: it is the test process's).
func cgroupsBelow(root string) []string {
	var out []string
	for _, cg := range nodeagenttest.CgroupsUnder(root) {
		if !strings.HasSuffix(cg, "/"+root) {
			out = append(out, cg)
		}
	}
	return out
}
