package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func open(t *testing.T, path, cidr string) *Allocator {
	t.Helper()
	a, err := Open(path, netip.MustParsePrefix(cidr))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAllocateSkipsReservedAndExhausts(t *testing.T) {
	a := open(t, filepath.Join(t.TempDir(), "ipam.json"), "10.250.7.16/28")
	seen := map[netip.Addr]bool{}
	for i := range 13 {
		addr, err := a.Allocate(fmt.Sprintf("pod-%d", i))
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		switch addr.String() {
		case "10.250.7.16", "10.250.7.17", "10.250.7.31":
			t.Fatalf("handed out reserved address %v", addr)
		}
		if seen[addr] {
			t.Fatalf("handed out %v twice", addr)
		}
		seen[addr] = true
	}
	_, err := a.Allocate("one-too-many")
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("14th allocation: %v, want ErrExhausted", err)
	}
	if want := "pod CIDR exhausted: all 13 addresses of 10.250.7.16/28 are in use"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if a.Free() != 0 {
		t.Fatalf("Free() = %d, want 0", a.Free())
	}
}

func TestAllocateIsIdempotentPerOwner(t *testing.T) {
	a := open(t, filepath.Join(t.TempDir(), "ipam.json"), "10.250.7.0/24")
	x, _ := a.Allocate("a")
	y, _ := a.Allocate("a")
	if x != y || x != netip.MustParseAddr("10.250.7.2") {
		t.Fatalf("got %v then %v, want 10.250.7.2 twice", x, y)
	}
}

func TestPersistsAcrossOpenAndReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	a := open(t, path, "10.250.7.0/29") // .2 .. .6
	ipA, _ := a.Allocate("a")
	ipB, _ := a.Allocate("b")

	b := open(t, path, "10.250.7.0/29")
	if got, _ := b.Lookup("a"); got != ipA {
		t.Fatalf("after reopen a has %v, want %v", got, ipA)
	}
	ipC, err := b.Allocate("c")
	if err != nil || ipC == ipA || ipC == ipB {
		t.Fatalf("after reopen c got %v (%v), a=%v b=%v", ipC, err, ipA, ipB)
	}
	if err := b.Release("a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Release("a"); err != nil {
		t.Fatalf("second release: %v", err)
	}

	c := open(t, path, "10.250.7.0/29")
	if _, ok := c.Lookup("a"); ok {
		t.Fatal("release of a was not persisted")
	}
	// Round-robin: the released address comes back only after the others.
	var got []netip.Addr
	for _, o := range []string{"d", "e", "f"} {
		ip, err := c.Allocate(o)
		if err != nil {
			t.Fatalf("allocate %s: %v", o, err)
		}
		got = append(got, ip)
	}
	if got[2] != ipA {
		t.Fatalf("allocations after release %v; want the released %v last", got, ipA)
	}
}

func TestReserve(t *testing.T) {
	a := open(t, filepath.Join(t.TempDir(), "ipam.json"), "10.250.7.0/24")
	ip := netip.MustParseAddr("10.250.7.9")
	if err := a.Reserve("a", ip); err != nil {
		t.Fatal(err)
	}
	if err := a.Reserve("a", ip); err != nil {
		t.Fatalf("repeat reserve: %v", err)
	}
	if err := a.Reserve("b", ip); !errors.Is(err, ErrInUse) {
		t.Fatalf("reserve taken address: %v, want ErrInUse", err)
	}
	if err := a.Reserve("c", netip.MustParseAddr("10.250.7.1")); err == nil {
		t.Fatal("reserved the gateway")
	}
}

func TestCIDRChangeKeepsOldOwnersUntilReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	a := open(t, path, "10.250.7.0/24")
	old, _ := a.Allocate("a")
	b := open(t, path, "10.250.8.0/24")
	if got, ok := b.Lookup("a"); !ok || got != old {
		t.Fatalf("old allocation lost on CIDR change: %v %v", got, ok)
	}
	ip, err := b.Allocate("a")
	if err != nil || !b.Prefix().Contains(ip) {
		t.Fatalf("re-allocation after CIDR change: %v %v", ip, err)
	}
}

func TestConcurrentAllocationsAreDistinct(t *testing.T) {
	a := open(t, filepath.Join(t.TempDir(), "ipam.json"), "10.250.7.0/24")
	const n = 64
	ips := make([]netip.Addr, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ip, err := a.Allocate(fmt.Sprintf("pod-%d", i))
			if err != nil {
				t.Error(err)
			}
			ips[i] = ip
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
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, cidr := range []string{"10.250.7.1/24", "10.250.7.0/31", "fd00::/64"} {
		if _, err := Open(filepath.Join(dir, "x"), netip.MustParsePrefix(cidr)); !errors.Is(err, ErrBadPrefix) {
			t.Errorf("Open(%s): %v, want ErrBadPrefix", cidr, err)
		}
	}
	corrupt := filepath.Join(dir, "corrupt.json")
	os.WriteFile(corrupt, []byte("{"), 0o644)
	if _, err := Open(corrupt, netip.MustParsePrefix("10.250.7.0/24")); err == nil {
		t.Error("opened a corrupt state file")
	}
}

func TestPersistFailureLeavesStateUnchanged(t *testing.T) {
	a := open(t, filepath.Join(t.TempDir(), "missing-dir", "ipam.json"), "10.250.7.0/24")
	if _, err := a.Allocate("a"); err == nil {
		t.Fatal("allocation succeeded although it could not be persisted")
	}
	if _, ok := a.Lookup("a"); ok {
		t.Fatal("an unpersisted allocation was kept")
	}
}
