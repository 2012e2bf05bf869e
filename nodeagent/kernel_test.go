package nodeagent_test

import (
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/mountinfo"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
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
	if br, err := netlink.LinkByName(cfg.Bridge); err == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				netlink.LinkDel(l)
			}
		}
		netlink.LinkDel(br)
	}
	entries, _ := os.ReadDir(cfg.NetnsDir)
	for _, e := range entries {
		p := filepath.Join(cfg.NetnsDir, e.Name())
		unix.Unmount(p, unix.MNT_DETACH)
		os.Remove(p)
	}
	state := containerd.DefaultStateDir(filepath.Join(cfg.DataDir, "containerd"))
	for _, p := range processesMentioning(state) {
		if pid, err := strconv.Atoi(strings.SplitN(p, ":", 2)[0]); err == nil {
			unix.Kill(pid, unix.SIGKILL) // a shim (or containerd) the agent left
		}
	}
	for _, dir := range []string{cfg.DataDir, state} {
		for _, m := range mountsUnder(dir) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	os.RemoveAll(state)
}

// leaks lists what of an agent with cfg is left in the kernel: processes
// (its containerd, shims, containers), cgroups, the bridge and links on
// it, mounts under its data dir.
func leaks(cfg nodeagent.Config) []string {
	var out []string
	for _, cg := range cgroupsBelow(cfg.CgroupRoot) {
		out = append(out, "cgroup "+cg)
	}
	if br, err := netlink.LinkByName(cfg.Bridge); err == nil {
		out = append(out, "bridge "+cfg.Bridge)
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				out = append(out, "link "+l.Attrs().Name)
			}
		}
	}
	for _, pid := range nodeagenttest.ProcessesIn(cfg.CgroupRoot) {
		out = append(out, "process "+strconv.Itoa(pid))
	}
	state := containerd.DefaultStateDir(filepath.Join(cfg.DataDir, "containerd"))
	for _, dir := range []string{cfg.DataDir, state} {
		for _, p := range processesMentioning(dir) {
			out = append(out, "process "+p)
		}
		for _, m := range mountsUnder(dir) {
			out = append(out, "mount "+m)
		}
	}
	if _, err := os.Stat(state); err == nil {
		out = append(out, "containerd state "+state)
	}
	return out
}

// processesMentioning lists processes whose command line contains s
// (containerd names its config under the data dir; its shims, its socket).
func processesMentioning(s string) []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	self := "/proc/" + strconv.Itoa(os.Getpid()) + "/"
	for _, f := range dirs {
		if strings.HasPrefix(f, self) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, s) {
			out = append(out, filepath.Base(filepath.Dir(f))+": "+cmd)
		}
	}
	return out
}

// mountsUnder lists the mount points below dir.
func mountsUnder(dir string) []string {
	mounts, _ := mountinfo.Read()
	var out []string
	for _, m := range mounts {
		if strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
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
