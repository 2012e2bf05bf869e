package ipam

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
)

// TestUpdateSerializesAllocators: callers that each load the file under the
// lock (as separate plugin processes do, every one with its own Allocator)
// never hand out one address twice. Without the lock each would read the
// same file and pick the same next address.
func TestUpdateSerializesAllocators(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "ipam.json")
	prefix := netip.MustParsePrefix("10.250.7.0/24")
	const n = 48
	ips := make([]netip.Addr, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := Update(path, prefix, func(a *Allocator) (err error) {
				ips[i], err = a.Allocate(fmt.Sprintf("pod-%d", i))
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[netip.Addr]int{}
	for i, ip := range ips {
		if j, dup := seen[ip]; dup {
			t.Fatalf("pods %d and %d share %v", i, j, ip)
		}
		seen[ip] = i
	}
	a := open(t, path, prefix.String())
	if got := len(a.Owners()); got != n {
		t.Errorf("%d allocations persisted, want %d", got, n)
	}
	for i := range n {
		wg.Go(func() {
			if err := Update(path, prefix, func(a *Allocator) error { return a.Release(fmt.Sprintf("pod-%d", i)) }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := open(t, path, prefix.String()).Owners(); len(got) > 0 {
		t.Errorf("allocations left after releasing all: %v", got)
	}
}
