package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// namedDir is where `ip netns` keeps named namespaces.
const namedDir = "/run/netns"

// Create makes a new network namespace and pins it by bind-mounting it on
// path (which must not exist), as `ip netns add` does but in any
// directory. The namespace lives until Delete, even with nothing in it.
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file %s: %w", path, err)
	}
	f.Close()
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare netns: %w", err)
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mount netns on %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// Delete unpins the namespace at path and removes the file. The namespace
// itself lives on while a process or a handle still holds it. A missing or
// unmounted path is not an error.
func Delete(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns file %s: %w", path, err)
	}
	return nil
}

// IsNamespace reports whether path is a namespace file (of nsfs: a pinned
// namespace, or /proc/<pid>/ns/net), not merely a file a reboot or a crash
// left without its mount. A missing path is not an error.
func IsNamespace(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// NewNamed creates the namespace `ip netns` calls name, pinned at
// /run/netns/<name>, and returns that path.
func NewNamed(name string) (string, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return "", fmt.Errorf("netns name %q: not a file name", name)
	}
	if err := os.MkdirAll(namedDir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", namedDir, err)
	}
	path := filepath.Join(namedDir, name)
	if err := Create(path); err != nil {
		return "", err
	}
	return path, nil
}

// DeleteNamed deletes what NewNamed(name) created.
func DeleteNamed(name string) error {
	return Delete(filepath.Join(namedDir, name))
}
