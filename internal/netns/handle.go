package netns

import (
	"fmt"

	"golang.org/x/sys/unix"

	vnetns "github.com/vishvananda/netns"
)

// Handle is an open network namespace (a file descriptor), as netlink's
// NewHandleAt and NsFd take it. Close it when done.
type Handle = vnetns.NsHandle

// None is the handle of no namespace: netlink.NewHandleAt(None()) works in
// the caller's.
func None() Handle { return vnetns.None() }

// Open opens the network namespace at path.
func Open(path string) (Handle, error) {
	ns, err := vnetns.GetFromPath(path)
	if err != nil {
		return None(), fmt.Errorf("open netns %s: %w", path, err)
	}
	return ns, nil
}

// New creates an anonymous network namespace. It lives while the handle
// (or a process inside it, or a pin) holds it.
func New() (Handle, error) {
	ns := None()
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare netns: %w", err)
		}
		var err error
		if ns, err = vnetns.Get(); err != nil {
			return fmt.Errorf("get new netns: %w", err)
		}
		return nil
	})
	if err != nil {
		if ns.IsOpen() { // made, but the thread was not restored
			ns.Close()
		}
		return None(), err
	}
	return ns, nil
}
