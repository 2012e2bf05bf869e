package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroupV2 places a container in one directory of the unified hierarchy.
type cgroupV2 struct {
	mount string
}

var _ cgroups = (*cgroupV2)(nil)

// v2Controllers are enabled down to each container's cgroup when the
// hierarchy offers them.
var v2Controllers = []string{"cpu", "memory", "pids"}

func (c *cgroupV2) version() int { return 2 }

func (c *cgroupV2) dir(path string) string { return filepath.Join(c.mount, path) }

func (c *cgroupV2) create(path string, l limits) error {
	// Walk down from the hierarchy root, enabling the controllers in each
	// ancestor's subtree_control (only those missing: the root's is
	// system-wide and usually set by systemd already), then making the child.
	parent := c.mount
	for _, elem := range strings.Split(path, "/") {
		if err := enableControllers(parent); err != nil {
			return err
		}
		parent = filepath.Join(parent, elem)
		if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	d := c.dir(path)
	avail, _ := readFields(filepath.Join(d, "cgroup.controllers"))
	if l.memoryBytes > 0 {
		if !contains(avail, "memory") {
			return fmt.Errorf("memory limit: %w: the cgroup2 hierarchy has no memory controller", ErrUnsupported)
		}
		if err := writeFile(filepath.Join(d, "memory.max"), strconv.FormatInt(l.memoryBytes, 10)); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(d, "memory.swap.max")); err == nil {
			if err := writeFile(filepath.Join(d, "memory.swap.max"), "0"); err != nil {
				return err
			}
		}
	}
	if contains(avail, "memory") {
		// Kubernetes on cgroup v2 kills the whole container when the OOM
		// killer picks one of its processes.
		if err := writeFile(filepath.Join(d, "memory.oom.group"), "1"); err != nil {
			return err
		}
	}
	if l.cpuMillis > 0 {
		if !contains(avail, "cpu") {
			return fmt.Errorf("cpu limit: %w: the cgroup2 hierarchy has no cpu controller", ErrUnsupported)
		}
		v := fmt.Sprintf("%d %d", cfsQuota(l.cpuMillis), cfsPeriod)
		if err := writeFile(filepath.Join(d, "cpu.max"), v); err != nil {
			return err
		}
	}
	return nil
}

func enableControllers(dir string) error {
	avail, err := readFields(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read controllers of %s: %w", dir, err)
	}
	enabled, err := readFields(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read subtree_control of %s: %w", dir, err)
	}
	for _, ctrl := range v2Controllers {
		if contains(avail, ctrl) && !contains(enabled, ctrl) {
			if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+ctrl); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *cgroupV2) add(path string, pid int) error {
	return writeFile(filepath.Join(c.dir(path), "cgroup.procs"), strconv.Itoa(pid))
}

func (c *cgroupV2) stats(path string) (Stats, error) {
	var s Stats
	d := c.dir(path)
	usec, err := readKey(filepath.Join(d, "cpu.stat"), "usage_usec")
	if err != nil {
		return s, err
	}
	s.CPU = time.Duration(usec) * time.Microsecond
	usage, err := readUint(filepath.Join(d, "memory.current"))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil // no memory controller: nothing to report
	}
	if err != nil {
		return s, err
	}
	inactive, _ := readKey(filepath.Join(d, "memory.stat"), "inactive_file")
	s.MemoryUsage = usage
	s.MemoryWorkingSet = usage - min(inactive, usage)
	return s, nil
}

func (c *cgroupV2) oomKills(path string) (uint64, error) {
	n, err := readKey(filepath.Join(c.dir(path), "memory.events"), "oom_kill")
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	return n, err
}

func (c *cgroupV2) procs(path string) ([]int, error) {
	pids, err := readProcs(c.dir(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return pids, err
}

func (c *cgroupV2) remove(path string) error {
	d := c.dir(path)
	if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// cgroup.kill (Linux 5.14) kills everything at once, forks included.
	writeFile(filepath.Join(d, "cgroup.kill"), "1")
	if err := killDir(d); err != nil {
		return err
	}
	return rmdir(d)
}

func (c *cgroupV2) removeIfEmpty(path string) {
	os.Remove(c.dir(path))
}

func (c *cgroupV2) children(path string) ([]string, error) {
	names, err := childDirs(c.dir(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return names, err
}
