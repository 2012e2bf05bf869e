package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/mountinfo"
)

// EmptyDir makes an emptyDir volume's directory (world-writable, as the
// kubelet's). With memory, it mounts a tmpfs there of sizeLimit bytes (0:
// the kernel's default, half the node's memory), unless one is mounted.
func EmptyDir(dir string, memory bool, sizeLimit int64) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("emptyDir %s: %w", dir, err)
	}
	if memory {
		mounted, err := IsMountPoint(dir)
		if err != nil {
			return fmt.Errorf("emptyDir %s: %w", dir, err)
		}
		if !mounted {
			opts := "mode=0777"
			if sizeLimit > 0 {
				opts += ",size=" + strconv.FormatInt(sizeLimit, 10)
			}
			if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
				return fmt.Errorf("emptyDir %s: mount tmpfs: %w", dir, err)
			}
		}
	}
	if err := os.Chmod(dir, 0o777); err != nil { // the umask does not apply
		return fmt.Errorf("emptyDir %s: %w", dir, err)
	}
	return nil
}

// IsMountPoint reports whether dir is a mount point.
func IsMountPoint(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	mounts, err := mountinfo.Read()
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m.Point == abs {
			return true, nil
		}
	}
	return false, nil
}

// Unmount unmounts dir if it is a mount point (lazily, should a process
// still use it).
func Unmount(dir string) error {
	mounted, err := IsMountPoint(dir)
	if err != nil || !mounted {
		return err
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// SetGroup gives dir and everything below it to group gid, group-writable
// and, for directories, setgid (new files inherit the group), as the
// kubelet applies a pod's fsGroup to its volumes.
func SetGroup(dir string, gid int64) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if err := os.Lchown(p, -1, int(gid)); err != nil {
			return fmt.Errorf("fsGroup on %s: %w", p, err)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() | 0o060
		if d.IsDir() {
			mode |= 0o010 | fs.ModeSetgid
		}
		if err := os.Chmod(p, mode|info.Mode()&fs.ModeSticky); err != nil {
			return fmt.Errorf("fsGroup on %s: %w", p, err)
		}
		return nil
	})
}
