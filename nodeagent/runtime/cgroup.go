package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/internal/mountinfo"
)

// cgroups creates and reads the per-container cgroups. Paths are relative to
// the hierarchy root, slash-separated: "<CgroupRoot>/<podUID>/<container>".
// cgroupV1 and cgroupV2 implement it.
type cgroups interface {
	version() int
	// create makes path (and its parents, with the controllers enabled that
	// v2 needs) and sets the limits.
	create(path string, l limits) error
	// add moves pid (all its threads) into path.
	add(path string, pid int) error
	stats(path string) (Stats, error)
	// oomKills counts the processes the OOM killer killed in path.
	oomKills(path string) (uint64, error)
	procs(path string) ([]int, error)
	// remove kills what still runs in path and removes it.
	remove(path string) error
	// removeIfEmpty removes path unless it has children or processes.
	removeIfEmpty(path string)
	// children lists the names of path's child cgroups.
	children(path string) ([]string, error)
}

type limits struct {
	cpuMillis   int64
	memoryBytes int64
}

// cfsPeriod is the CPU bandwidth period, the kernel's and Kubernetes' default.
const cfsPeriod = 100000 // µs

// cfsQuota converts a millicore limit to a quota per cfsPeriod, never below
// the kernel's minimum of 1 ms.
func cfsQuota(millis int64) int64 {
	return max(millis*cfsPeriod/1000, 1000)
}

// v1Controllers are the v1 hierarchies a container is placed in.
var v1Controllers = []string{"cpu", "cpuacct", "memory"}

// detectCgroups picks v2 when a cgroup2 hierarchy has the cpu or memory
// controller (a unified system), else the v1 hierarchies (a legacy or hybrid
// system, whose cgroup2 mount has no controllers), else a controller-less
// cgroup2 mount, which can place and account processes but not limit them.
func detectCgroups() (cgroups, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	defer f.Close()
	mounts, err := mountinfo.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return pickCgroups(mounts)
}

func pickCgroups(mounts []mountinfo.Mount) (cgroups, error) {
	var v2 []string
	v1 := map[string]string{}
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup2":
			v2 = append(v2, m.Point)
		case "cgroup":
			for _, o := range m.SuperOptions {
				for _, c := range v1Controllers {
					if o == c && v1[c] == "" {
						v1[c] = m.Point
					}
				}
			}
		}
	}
	for _, mp := range v2 {
		ctrls, _ := readFields(filepath.Join(mp, "cgroup.controllers"))
		if contains(ctrls, "memory") || contains(ctrls, "cpu") {
			return &cgroupV2{mount: mp}, nil
		}
	}
	if len(v1) > 0 {
		return &cgroupV1{mounts: v1}, nil
	}
	if len(v2) > 0 {
		return &cgroupV2{mount: v2[0]}, nil
	}
	return nil, fmt.Errorf("%w: no cgroup file system mounted", ErrUnsupported)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// readFields returns the whitespace-separated words of a cgroup file.
func readFields(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKey returns the value of key in a flat-keyed file ("key value" lines:
// cpu.stat, memory.stat, memory.events, memory.oom_control). A missing key
// is 0: older kernels lack some.
func readKey(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte{' '})
		if ok && string(k) == key {
			return strconv.ParseUint(string(v), 10, 64)
		}
	}
	return 0, nil
}

func writeFile(path, value string) error {
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

func readProcs(dir string) ([]int, error) {
	words, err := readFields(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(words))
	for _, w := range words {
		if pid, err := strconv.Atoi(w); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killDir SIGKILLs every process in the cgroup dir until it is empty. It is
// the fallback for what a PID namespace's end should already have killed.
func killDir(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := readProcs(dir)
		if errors.Is(err, os.ErrNotExist) || (err == nil && len(pids) == 0) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes %v survive SIGKILL", dir, pids)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rmdir removes a cgroup directory, retrying while the kernel still counts
// exiting tasks in it (EBUSY for a moment after the last one is reaped).
func rmdir(dir string) error {
	delay := time.Millisecond
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

func childDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
