package registry

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// podCIDRKeyPrefix holds one key per node pod CIDR handed out
// (/registry/podcidrs/10.244.3.0/24 → the node's name), written in the same
// transaction as the Node that owns it and deleted with it, exactly as
// ClusterIPs are: two API servers can never hand out the same range.
const podCIDRKeyPrefix = "/registry/podcidrs/"

// The cluster pod CIDR and the size of each node's share, as DESIGN.md gives
// them.
const (
	DefaultPodCIDR      = "10.244.0.0/16"
	DefaultNodeMaskSize = 24
)

// CIDRAllocator hands out one pod CIDR per node from the cluster pod CIDR.
type CIDRAllocator struct {
	cluster netip.Prefix
	bits    int // the mask size of one node's range
	client  *clientv3.Client
}

// NewCIDRAllocator hands out /nodeMaskSize ranges of cidr (an IPv4 prefix
// such as 10.244.0.0/16).
func NewCIDRAllocator(client *clientv3.Client, cidr string, nodeMaskSize int) (*CIDRAllocator, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("cluster pod CIDR %q: must be an IPv4 prefix such as %s", cidr, DefaultPodCIDR)
	}
	if nodeMaskSize < p.Bits() || nodeMaskSize > 30 || nodeMaskSize-p.Bits() > 20 {
		return nil, fmt.Errorf("node pod CIDR size /%d: must be between /%d and /30, and at most 2^20 of them", nodeMaskSize, p.Bits())
	}
	return &CIDRAllocator{cluster: p.Masked(), bits: nodeMaskSize, client: client}, nil
}

// CIDR is the cluster pod CIDR ranges come from.
func (a *CIDRAllocator) CIDR() netip.Prefix { return a.cluster }

// NodeMaskSize is the mask size of each node's range.
func (a *CIDRAllocator) NodeMaskSize() int { return a.bits }

func (a *CIDRAllocator) count() int { return 1 << (a.bits - a.cluster.Bits()) }

func (a *CIDRAllocator) nth(i int) netip.Prefix {
	b := a.cluster.Addr().As4()
	n := binary.BigEndian.Uint32(b[:]) + uint32(i)<<(32-a.bits)
	binary.BigEndian.PutUint32(b[:], n)
	return netip.PrefixFrom(netip.AddrFrom4(b), a.bits)
}

func (a *CIDRAllocator) index(p netip.Prefix) int {
	b, base := p.Addr().As4(), a.cluster.Addr().As4()
	return int((binary.BigEndian.Uint32(b[:]) - binary.BigEndian.Uint32(base[:])) >> (32 - a.bits))
}

// checkRequested validates a pod CIDR a Node asks for: one node's share of
// the cluster range, on its boundary.
func (a *CIDRAllocator) checkRequested(cidr string, path *field.Path) *field.Error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return field.Invalid(path, cidr, "must be an IPv4 CIDR such as 10.244.1.0/24")
	}
	if p.Bits() != a.bits || p.Masked() != p || !a.cluster.Contains(p.Addr()) {
		return field.Invalid(path, cidr, fmt.Sprintf("must be a /%d within the cluster pod CIDR %s (such as %s)", a.bits, a.cluster, a.nth(1)))
	}
	return nil
}

// pick returns a free-looking range: the lowest free one first, so that
// nodes get 10.244.0.0/24, 10.244.1.0/24, ...; after losing a race to another
// create, a random free one, so that concurrent creates spread out. The
// transaction decides for sure.
func (a *CIDRAllocator) pick(ctx context.Context, attempt int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, store.OpTimeout)
	defer cancel()
	resp, err := a.client.Get(ctx, podCIDRKeyPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("etcd: %v", err))
	}
	used := make([]bool, a.count())
	for _, kv := range resp.Kvs {
		p, err := netip.ParsePrefix(strings.TrimPrefix(string(kv.Key), podCIDRKeyPrefix))
		if err == nil && p.Bits() == a.bits && a.cluster.Contains(p.Addr()) {
			used[a.index(p)] = true
		}
	}
	var free []int
	for i, u := range used {
		if !u {
			free = append(free, i)
		}
	}
	if len(free) == 0 {
		return "", a.errFull()
	}
	if attempt == 0 {
		return a.nth(free[0]).String(), nil
	}
	return a.nth(free[rand.IntN(len(free))]).String(), nil
}

// errFull is an internal error, as a full ClusterIP range is: the request
// was fine, the cluster is out of ranges.
func (a *CIDRAllocator) errFull() error {
	return apierrors.NewInternalError(fmt.Errorf("failed to allocate a pod CIDR: all %d /%d ranges of the cluster pod CIDR %s are in use; delete unused Nodes or use a larger cluster CIDR",
		a.count(), a.bits, a.cluster))
}

func claimPodCIDR(cidr, node string) store.Txn {
	k := podCIDRKeyPrefix + cidr
	return store.Txn{
		Cmps: []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)},
		Ops:  []clientv3.Op{clientv3.OpPut(k, node)},
	}
}

func releasePodCIDR(cidr string) store.Txn {
	return store.Txn{Ops: []clientv3.Op{clientv3.OpDelete(podCIDRKeyPrefix + cidr)}}
}
