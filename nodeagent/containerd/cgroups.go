package containerd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cgroupRoot is where cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// RemoveCgroupTree removes the cgroup parent (a path such as
// "/shoal/pod-1234", as given in a sandbox's LinuxPodSandboxConfig
// CgroupParent) and every cgroup below it, in each mounted hierarchy
// (cgroup v1 controllers, cgroup v2 or a hybrid). runc removes a
// container's own cgroup but leaves the pod-level parents it created. A
// parent that still holds processes cannot be removed: the error says
// which.
func RemoveCgroupTree(parent string) error {
	rel := strings.Trim(filepath.Clean("/"+parent), "/")
	if rel == "" {
		return fmt.Errorf("remove cgroup tree: refusing to remove the root cgroup")
	}
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return fmt.Errorf("remove cgroup tree %s: %w", parent, err)
	}
	var errs []error
	for _, h := range hierarchies {
		if err := removeTree(filepath.Join(h, rel)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove cgroup tree %s: %w", parent, err)
	}
	return nil
}

// cgroupHierarchies lists the mounted hierarchies: /sys/fs/cgroup itself
// on cgroup v2, or its subdirectories (cpu, memory, …, unified) on v1 and
// hybrid systems. Symlinked controller aliases (cpu → cpu,cpuacct) are
// skipped.
func cgroupHierarchies() ([]string, error) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		return []string{cgroupRoot}, nil
	}
	entries, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Type()&os.ModeSymlink == 0 {
			out = append(out, filepath.Join(cgroupRoot, e.Name()))
		}
	}
	return out, nil
}

// removeTree removes a cgroup directory bottom-up; cgroupfs allows only
// rmdir of empty cgroups (their control files vanish with them).
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, removeTree(filepath.Join(dir, e.Name())))
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
