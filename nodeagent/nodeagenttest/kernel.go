package nodeagenttest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/mountinfo"
)

// Every kernel object the harness makes carries its process ID, so a later
// run can remove what a run that died without its cleanups (a test binary
// timing out, say) left:
//
//	links     alias "shoal-nodeagenttest:<pid>" (the host bridge and veths)
//	netns     bind mounts under runDir/<pid>-<id>/ (nodes' and pods')
//	cgroups   <hierarchy>/shoal-nodeagenttest-<pid>-<id>/
//
// Routes in the host namespace go with the bridge they lead through.
const (
	runDir       = "/run/shoal-nodeagenttest"
	aliasPrefix  = "shoal-nodeagenttest:"
	cgroupPrefix = "shoal-nodeagenttest-"
	// routeProtocol marks the harness's routes in the host namespace
	// (RTPROT_STATIC would do, this is easier to find: ip route show proto 84).
	routeProtocol netlink.RouteProtocol = 84
)

// alive reports whether a process with this PID exists.
func alive(pid int) bool {
	return pid > 0 && unix.Kill(pid, 0) != unix.ESRCH
}

// ownerPID parses "<pid>-..." or "<pid>".
func ownerPID(s string) int {
	head, _, _ := strings.Cut(s, "-")
	pid, err := strconv.Atoi(head)
	if err != nil {
		return 0
	}
	return pid
}

// sweep removes what runs of the harness in processes that no longer exist
// left behind.
func sweep() {
	links, _ := netlink.LinkList()
	for _, l := range links {
		if owner, ok := strings.CutPrefix(l.Attrs().Alias, aliasPrefix); ok && !alive(ownerPID(owner)) {
			netlink.LinkDel(l)
		}
	}
	for _, mp := range cgroupMounts() {
		entries, _ := os.ReadDir(mp)
		for _, e := range entries {
			if rest, ok := strings.CutPrefix(e.Name(), cgroupPrefix); ok && e.IsDir() && !alive(ownerPID(rest)) {
				RemoveCgroups(e.Name())
			}
		}
	}
	entries, _ := os.ReadDir(runDir)
	for _, e := range entries {
		if !alive(ownerPID(e.Name())) {
			removeNetnsDir(filepath.Join(runDir, e.Name()))
		}
	}
}

// freeSubnet picks a /24 in 10.251.0.0/16 that nothing in the host
// namespace routes to yet.
func freeSubnet() (netip.Prefix, error) {
	used, err := hostRoutes()
	if err != nil {
		return netip.Prefix{}, err
	}
	start := randByte()
	for i := range 256 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 251, start + byte(i), 0}), 24)
		if !overlapsAny(p, used) {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("no free /24 in 10.251.0.0/16")
}

// freePodCIDRs picks n distinct /24s of the cluster pod CIDR 10.244.0.0/16,
// in 10.244.64.0/18, that nothing in the host namespace routes to: the
// lower /24s are what `shoal up` hands out first and the upper half is
// where the node agent's own tests pick theirs.
func freePodCIDRs(n int) ([]netip.Prefix, error) {
	used, err := hostRoutes()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	start := randByte()
	for i := 0; i < 64 && len(out) < n; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, 64 + (start+byte(i))%64, 0}), 24)
		if !overlapsAny(p, used) {
			out = append(out, p)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("only %d free /24s in 10.244.64.0/18 for %d nodes", len(out), n)
	}
	return out, nil
}

func hostRoutes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

func overlapsAny(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// removeNetnsDir unmounts every mount at or below dir (pinned namespaces)
// and removes it.
func removeNetnsDir(dir string) {
	mounts := mountsUnder(dir)
	for i := len(mounts) - 1; i >= 0; i-- {
		unix.Unmount(mounts[i], unix.MNT_DETACH)
	}
	os.RemoveAll(dir)
}

// mountsUnder lists the mount points at or below dir, in mount order.
func mountsUnder(dir string) []string {
	mounts, _ := mountinfo.Read()
	var out []string
	for _, m := range mounts {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	return out
}

// cgroupMounts are the cgroup hierarchies' mount points.
func cgroupMounts() []string {
	mounts, _ := mountinfo.Read()
	var out []string
	for _, m := range mounts {
		if m.FSType == "cgroup" || m.FSType == "cgroup2" {
			out = append(out, m.Point)
		}
	}
	return out
}

// RemoveCgroups kills what runs under root (relative to every hierarchy)
// and removes its cgroups, deepest first.
func RemoveCgroups(root string) {
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
			for range 100 {
				b, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
				pids := strings.Fields(string(b))
				for _, p := range pids {
					if pid, err := strconv.Atoi(p); err == nil {
						unix.Kill(pid, unix.SIGKILL)
					}
				}
				if unix.Rmdir(dirs[i]) == nil || errors.Is(unix.Access(dirs[i], unix.F_OK), unix.ENOENT) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// CgroupsUnder lists the cgroups at or below root in every hierarchy.
func CgroupsUnder(root string) []string {
	var out []string
	for _, mp := range cgroupMounts() {
		base := filepath.Join(mp, root)
		filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// ProcessesIn lists the processes whose cgroup path contains /root/.
func ProcessesIn(root string) []int {
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

// ProcessesMentioning lists the processes (but this one) whose command
// line contains s: a containerd names its config (under its data dir), its
// shims their containerd's socket (under its state dir).
func ProcessesMentioning(s string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, pid)
		}
	}
	return out
}

func randByte() byte {
	var b [1]byte
	rand.Read(b[:])
	return b[0]
}
