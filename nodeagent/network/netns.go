package network

import "github.com/shoalmesh/shoal/internal/netns"

// ensureNetNS makes path a pinned namespace, replacing a stale file (one a
// reboot or a crash left without its mount).
func ensureNetNS(path string) error {
	ok, err := netns.IsNamespace(path)
	if err != nil || ok {
		return err
	}
	if err := netns.Delete(path); err != nil {
		return err
	}
	return netns.Create(path)
}
