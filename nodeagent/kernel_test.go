package nodeagent_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/nodeagent"
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

// cgroupMounts are the cgroup hierarchies' mount points.
func cgroupMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, fstype := strings.Fields(pre), strings.Fields(post)
		if len(fields) > 4 && len(fstype) > 0 && (fstype[0] == "cgroup" || fstype[0] == "cgroup2") {
			out = append(out, fields[4])
		}
	}
	return out
}

// cgroupsUnder lists the cgroups below root in every hierarchy.
func cgroupsUnder(root string) []string {
	var out []string
	for _, mp := range cgroupMounts() {
		base := filepath.Join(mp, root)
		filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != base {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// removeCgroups kills what runs under root and removes its cgroups.
func removeCgroups(root string) {
	for _, mp := range cgroupMounts() {
		base := filepath.Join(mp, root)
		var dirs []string
		filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			for range 50 {
				b, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
				pids := strings.Fields(string(b))
				for _, p := range pids {
					if pid, err := strconv.Atoi(p); err == nil {
						unix.Kill(pid, unix.SIGKILL)
					}
				}
				if unix.Rmdir(dirs[i]) == nil || len(pids) == 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

func removeTestCgroups() {
	if os.Geteuid() == 0 {
		removeCgroups(testCgroupRoot)
	}
}

// cleanupKernel removes whatever an agent with cfg left: processes and
// cgroups, interfaces, namespaces and routes.
func cleanupKernel(t *testing.T, cfg nodeagent.Config) {
	removeCgroups(cfg.CgroupRoot)
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
	for _, cg := range cgroupsUnder(cfg.CgroupRoot) {
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
	for _, pid := range processesIn(cfg.CgroupRoot) {
		out = append(out, "process "+strconv.Itoa(pid))
	}
	return out
}

// processesIn lists the processes whose cgroup path contains root.
func processesIn(root string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if err == nil && bytes.Contains(b, []byte("/"+root+"/")) {
			out = append(out, pid)
		}
	}
	return out
}
