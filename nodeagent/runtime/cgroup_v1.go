package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// cgroupV1 places a container in a directory of the same path in each of the
// cpu, cpuacct and memory hierarchies (some of which may be one mount).
type cgroupV1 struct {
	mounts map[string]string // controller -> mount point
}

var _ cgroups = (*cgroupV1)(nil)

func (c *cgroupV1) version() int { return 1 }

// dirs returns path in every distinct hierarchy, memory's first.
func (c *cgroupV1) dirs(path string) []string {
	var out []string
	seen := map[string]bool{}
	for _, ctrl := range []string{"memory", "cpu", "cpuacct"} {
		mp, ok := c.mounts[ctrl]
		if ok && !seen[mp] {
			seen[mp] = true
			out = append(out, filepath.Join(mp, path))
		}
	}
	return out
}

func (c *cgroupV1) dir(ctrl, path string) (string, bool) {
	mp, ok := c.mounts[ctrl]
	return filepath.Join(mp, path), ok
}

func (c *cgroupV1) create(path string, l limits) error {
	for _, d := range c.dirs(path) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	if l.memoryBytes > 0 {
		d, ok := c.dir("memory", path)
		if !ok {
			return fmt.Errorf("memory limit: %w: no memory cgroup hierarchy", ErrUnsupported)
		}
		v := strconv.FormatInt(l.memoryBytes, 10)
		if err := writeFile(filepath.Join(d, "memory.limit_in_bytes"), v); err != nil {
			return err
		}
		// With swap accounting, limit memory+swap too: a container over
		// its limit is OOM-killed, as in Kubernetes, rather than swapped.
		if _, err := os.Stat(filepath.Join(d, "memory.memsw.limit_in_bytes")); err == nil {
			if err := writeFile(filepath.Join(d, "memory.memsw.limit_in_bytes"), v); err != nil {
				return err
			}
		}
	}
	if l.cpuMillis > 0 {
		d, ok := c.dir("cpu", path)
		if !ok {
			return fmt.Errorf("cpu limit: %w: no cpu cgroup hierarchy", ErrUnsupported)
		}
		if err := writeFile(filepath.Join(d, "cpu.cfs_period_us"), strconv.Itoa(cfsPeriod)); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(d, "cpu.cfs_quota_us"), strconv.FormatInt(cfsQuota(l.cpuMillis), 10)); err != nil {
			return err
		}
	}
	return nil
}

func (c *cgroupV1) add(path string, pid int) error {
	for _, d := range c.dirs(path) {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

func (c *cgroupV1) stats(path string) (Stats, error) {
	var s Stats
	if d, ok := c.dir("cpuacct", path); ok {
		ns, err := readUint(filepath.Join(d, "cpuacct.usage"))
		if err != nil {
			return s, err
		}
		s.CPU = time.Duration(ns)
	}
	if d, ok := c.dir("memory", path); ok {
		usage, err := readUint(filepath.Join(d, "memory.usage_in_bytes"))
		if err != nil {
			return s, err
		}
		inactive, _ := readKey(filepath.Join(d, "memory.stat"), "total_inactive_file")
		s.MemoryUsage = usage
		s.MemoryWorkingSet = usage - min(inactive, usage)
	}
	return s, nil
}

func (c *cgroupV1) oomKills(path string) (uint64, error) {
	d, ok := c.dir("memory", path)
	if !ok {
		return 0, nil
	}
	return readKey(filepath.Join(d, "memory.oom_control"), "oom_kill")
}

func (c *cgroupV1) procs(path string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, d := range c.dirs(path) {
		pids, err := readProcs(d)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, p := range pids {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func (c *cgroupV1) remove(path string) error {
	var errs []error
	for _, d := range c.dirs(path) {
		if err := killDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range c.dirs(path) {
		if err := rmdir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *cgroupV1) removeIfEmpty(path string) {
	for _, d := range c.dirs(path) {
		os.Remove(d) // EBUSY while it has children or processes
	}
}

func (c *cgroupV1) children(path string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, d := range c.dirs(path) {
		names, err := childDirs(d)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}
