// Package ipam hands out pod IPs from a node's pod CIDR and persists every
// allocation before returning it, so a restarted agent never hands out an
// address that a running pod still holds.
package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"sync"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

var (
	// ErrExhausted means every allocatable address of the CIDR is in use.
	ErrExhausted = errors.New("pod CIDR exhausted")
	// ErrInUse means an address asked for by Reserve belongs to another owner.
	ErrInUse = errors.New("address in use")
	// ErrBadPrefix means the CIDR cannot hold pods: not IPv4, not masked, or
	// narrower than a /30.
	ErrBadPrefix = errors.New("bad pod CIDR")
)

const stateVersion = 1

// state is the file format. Addresses outside the current CIDR (left by a
// node whose CIDR changed) are kept until their owner releases them.
type state struct {
	Version     int                   `json:"version"`
	CIDR        netip.Prefix          `json:"cidr"`
	Last        netip.Addr            `json:"last,omitzero"`
	Allocations map[netip.Addr]string `json:"allocations"`
}

// Allocator is safe for concurrent use. One process should own a state file:
// the caller (the network package) holds a lock on its directory.
type Allocator struct {
	path   string
	prefix netip.Prefix

	mu      sync.Mutex
	last    netip.Addr            // the last address handed out; the next search starts after it
	byAddr  map[netip.Addr]string // address → owner
	byOwner map[string]netip.Addr
}

// Open loads the allocations stored at path (none if the file does not
// exist) for the CIDR prefix. The network address, the first address (the
// bridge's) and the broadcast address are never handed out.
func Open(path string, prefix netip.Prefix) (*Allocator, error) {
	if err := CheckPrefix(prefix); err != nil {
		return nil, err
	}
	a := &Allocator{
		path:    path,
		prefix:  prefix,
		byAddr:  map[netip.Addr]string{},
		byOwner: map[string]netip.Addr{},
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read IPAM state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse IPAM state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("parse IPAM state %s: version %d, want %d", path, st.Version, stateVersion)
	}
	for addr, owner := range st.Allocations {
		if owner == "" || !addr.Is4() {
			return nil, fmt.Errorf("parse IPAM state %s: bad allocation %v=%q", path, addr, owner)
		}
		if prev, ok := a.byOwner[owner]; ok {
			return nil, fmt.Errorf("parse IPAM state %s: owner %q holds %v and %v", path, owner, prev, addr)
		}
		a.byAddr[addr] = owner
		a.byOwner[owner] = addr
	}
	if st.CIDR == prefix {
		a.last = st.Last
	}
	return a, nil
}

// CheckPrefix reports whether prefix can be a pod CIDR.
func CheckPrefix(prefix netip.Prefix) error {
	switch {
	case !prefix.IsValid() || !prefix.Addr().Is4():
		return fmt.Errorf("%w %v: not an IPv4 prefix", ErrBadPrefix, prefix)
	case prefix.Masked() != prefix:
		return fmt.Errorf("%w %v: host bits set (want %v)", ErrBadPrefix, prefix, prefix.Masked())
	case prefix.Bits() > 30:
		return fmt.Errorf("%w %v: narrower than /30 leaves no pod address", ErrBadPrefix, prefix)
	}
	return nil
}

// Prefix is the CIDR addresses are allocated from.
func (a *Allocator) Prefix() netip.Prefix { return a.prefix }

// Gateway is the first address of the CIDR, kept for the node's bridge.
func (a *Allocator) Gateway() netip.Addr { return a.prefix.Addr().Next() }

// Allocate returns owner's address, allocating and persisting one if owner
// has none in the CIDR. Addresses are handed out round-robin, so a released
// address is not reused until the rest of the CIDR has been.
func (a *Allocator) Allocate(owner string) (netip.Addr, error) {
	if owner == "" {
		return netip.Addr{}, errors.New("allocate: empty owner")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.byOwner[owner]; ok {
		if a.prefix.Contains(addr) {
			return addr, nil
		}
		// A stale allocation from a former CIDR; replace it.
		delete(a.byAddr, addr)
		delete(a.byOwner, owner)
		if err := a.persistLocked(); err != nil {
			a.byAddr[addr], a.byOwner[owner] = owner, addr
			return netip.Addr{}, err
		}
	}
	addr, ok := a.nextFreeLocked()
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: all %d addresses of %v are in use", ErrExhausted, a.size(), a.prefix)
	}
	prevLast := a.last
	a.byAddr[addr], a.byOwner[owner], a.last = owner, addr, addr
	if err := a.persistLocked(); err != nil {
		delete(a.byAddr, addr)
		delete(a.byOwner, owner)
		a.last = prevLast
		return netip.Addr{}, err
	}
	return addr, nil
}

// Reserve records addr as owner's, as when adopting a pod whose allocation
// was lost. It is a no-op if owner already holds addr.
func (a *Allocator) Reserve(owner string, addr netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.allocatable(addr) {
		return fmt.Errorf("reserve %v: not an allocatable address of %v", addr, a.prefix)
	}
	if cur, ok := a.byAddr[addr]; ok {
		if cur == owner {
			return nil
		}
		return fmt.Errorf("reserve %v for %s: %w by %s", addr, owner, ErrInUse, cur)
	}
	if prev, ok := a.byOwner[owner]; ok {
		return fmt.Errorf("reserve %v for %s: it already holds %v", addr, owner, prev)
	}
	a.byAddr[addr], a.byOwner[owner] = owner, addr
	if err := a.persistLocked(); err != nil {
		delete(a.byAddr, addr)
		delete(a.byOwner, owner)
		return err
	}
	return nil
}

// Release frees owner's address, if it has one, and persists the change.
func (a *Allocator) Release(owner string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.byOwner[owner]
	if !ok {
		return nil
	}
	delete(a.byAddr, addr)
	delete(a.byOwner, owner)
	if err := a.persistLocked(); err != nil {
		a.byAddr[addr], a.byOwner[owner] = owner, addr
		return err
	}
	return nil
}

// Lookup returns owner's address.
func (a *Allocator) Lookup(owner string) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.byOwner[owner]
	return addr, ok
}

// Owners lists the owners that hold an address, sorted.
func (a *Allocator) Owners() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	owners := make([]string, 0, len(a.byOwner))
	for o := range a.byOwner {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	return owners
}

// Free is the number of addresses left to hand out.
func (a *Allocator) Free() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	used := 0
	for addr := range a.byAddr {
		if a.allocatable(addr) {
			used++
		}
	}
	return a.size() - used
}

// size is the number of allocatable addresses: all but network, gateway and
// broadcast.
func (a *Allocator) size() int {
	return 1<<(32-a.prefix.Bits()) - 3
}

func (a *Allocator) allocatable(addr netip.Addr) bool {
	return a.prefix.Contains(addr) && addr != a.prefix.Addr() && addr != a.Gateway() && addr != a.broadcast()
}

func (a *Allocator) broadcast() netip.Addr {
	b := a.prefix.Addr().As4()
	host := uint32(1)<<(32-a.prefix.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// nextFreeLocked searches from the address after the last one handed out,
// wrapping around the CIDR once.
func (a *Allocator) nextFreeLocked() (netip.Addr, bool) {
	first, last := a.Gateway().Next(), a.broadcast().Prev()
	start := first
	if a.last.IsValid() && a.prefix.Contains(a.last) && a.last.Less(last) && !a.last.Less(first) {
		start = a.last.Next()
	}
	addr := start
	for range a.size() {
		if _, used := a.byAddr[addr]; !used {
			return addr, true
		}
		if addr == last {
			addr = first
		} else {
			addr = addr.Next()
		}
	}
	return netip.Addr{}, false
}

func (a *Allocator) persistLocked() error {
	st := state{Version: stateVersion, CIDR: a.prefix, Last: a.last, Allocations: a.byAddr}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode IPAM state: %w", err)
	}
	if err := atomicfile.Write(a.path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("persist IPAM state: %w", err)
	}
	return nil
}
