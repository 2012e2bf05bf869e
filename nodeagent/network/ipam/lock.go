package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Update runs fn on the allocations stored at path for the CIDR prefix
// while it holds an exclusive lock on path+".lock" (flock), which other
// calls of Update on the same path, in this process or another, wait for.
// That is how short-lived processes, one per CNI call, share a node's
// allocations: each reads the file under the lock, and every change fn
// makes is persisted before fn's call returns. The lock is released when
// Update returns, or by the kernel when the process dies.
func Update(path string, prefix netip.Prefix, fn func(*Allocator) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create IPAM directory: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open IPAM lock: %w", err)
	}
	defer f.Close() // drops the lock
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("lock IPAM state %s: %w", path, err)
	}
	a, err := Open(path, prefix)
	if err != nil {
		return err
	}
	return fn(a)
}
