package registry

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// ipKeyPrefix holds one key per allocated ClusterIP, written in the same
// transaction as the Service that owns it, so two API servers can never hand
// out the same address: the second transaction's compare fails.
const ipKeyPrefix = "/registry/serviceips/"

// KubernetesServiceIP is the first address of the default service CIDR, which
// the `kubernetes` Service always has.
const KubernetesServiceIP = "10.96.0.1"

// IPAllocator hands out ClusterIPs from a CIDR.
type IPAllocator struct {
	prefix netip.Prefix
	client *clientv3.Client
	// staticBand addresses at the bottom of the range are left to requested
	// IPs (like 10.96.0.10 for DNS) while random ones are free elsewhere, as
	// Kubernetes does (KEP-3070).
	staticBand uint32
}

// NewIPAllocator allocates from cidr (an IPv4 prefix such as 10.96.0.0/16).
func NewIPAllocator(client *clientv3.Client, cidr string) (*IPAllocator, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("service CIDR %q: must be an IPv4 prefix of /30 or larger", cidr)
	}
	size := uint32(1) << (32 - p.Bits())
	band := min(max(16, size/16), 256)
	return &IPAllocator{prefix: p.Masked(), client: client, staticBand: band}, nil
}

// CIDR is the range addresses come from.
func (a *IPAllocator) CIDR() netip.Prefix { return a.prefix }

func (a *IPAllocator) size() uint32 { return uint32(1) << (32 - a.prefix.Bits()) }

func (a *IPAllocator) nth(i uint32) netip.Addr {
	b := a.prefix.Addr().As4()
	n := binary.BigEndian.Uint32(b[:]) + i
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b)
}

// claim is the transaction part that takes ip for the service key owner.
func claim(ip, owner string) store.Txn {
	k := ipKeyPrefix + ip
	return store.Txn{
		Cmps: []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)},
		Ops:  []clientv3.Op{clientv3.OpPut(k, owner)},
	}
}

func release(ip string) store.Txn {
	return store.Txn{Ops: []clientv3.Op{clientv3.OpDelete(ipKeyPrefix + ip)}}
}

// checkRequested validates a requested ClusterIP against the range.
func (a *IPAllocator) checkRequested(ip string) *field.Error {
	addr, err := netip.ParseAddr(ip)
	path := field.NewPath("spec", "clusterIP")
	if err != nil {
		return field.Invalid(path, ip, "must be a valid IP address or \"None\"")
	}
	if !a.prefix.Contains(addr) || addr == a.prefix.Addr() || addr == a.nth(a.size()-1) {
		return field.Invalid(path, ip, fmt.Sprintf("provided IP is not in the valid range. The range of valid IPs is %s", a.prefix))
	}
	return nil
}

// pick returns a free-looking address: random in the dynamic band, or the
// whole range once that is crowded. The transaction decides for sure.
func (a *IPAllocator) pick(ctx context.Context, attempt int) (string, error) {
	lo, hi := uint32(1), a.size()-2 // skip network and broadcast
	if attempt < 8 && hi-lo > a.staticBand*2 {
		lo = a.staticBand
	}
	if attempt < 32 {
		return a.nth(lo + rand.Uint32N(hi-lo+1)).String(), nil
	}
	// Crowded: scan for a free one.
	resp, err := a.client.Get(ctx, ipKeyPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return "", err
	}
	used := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		used[string(kv.Key[len(ipKeyPrefix):])] = true
	}
	for i := uint32(1); i <= a.size()-2; i++ {
		if ip := a.nth(i).String(); !used[ip] {
			return ip, nil
		}
	}
	return "", a.errRangeFull()
}

// errRangeFull is an internal error, as in Kubernetes: the request was fine,
// the cluster is out of addresses.
func (a *IPAllocator) errRangeFull() error {
	return apierrors.NewInternalError(fmt.Errorf("failed to allocate a ClusterIP: the range %s is full", a.prefix))
}

// needsIP reports whether svc should have a ClusterIP.
func needsIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func setIP(svc *corev1.Service, ip string) {
	svc.Spec.ClusterIP = ip
	svc.Spec.ClusterIPs = []string{ip}
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	single := corev1.IPFamilyPolicySingleStack
	svc.Spec.IPFamilyPolicy = &single
}
