package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"unicode"

	"github.com/shoalmesh/shoal/internal/netns"
)

// Pod is what the network needs of a pod.
type Pod struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Hostname and Subdomain are spec.hostname and spec.subdomain; the
	// hostname defaults to the pod name.
	Hostname    string `json:"hostname,omitempty"`
	Subdomain   string `json:"subdomain,omitempty"`
	HostNetwork bool   `json:"hostNetwork,omitempty"`
	// DNSPolicy is spec.dnsPolicy; "" is ClusterFirst.
	DNSPolicy DNSPolicy  `json:"dnsPolicy,omitempty"`
	DNSConfig *DNSConfig `json:"dnsConfig,omitempty"`
}

// Sandbox is a pod's network, as the runtime uses it.
type Sandbox struct {
	UID         string
	HostNetwork bool
	// NetNSPath is the pinned network namespace to join (setns). For
	// hostNetwork pods it is the node's, Config.NetNS: "" when that is the
	// agent's own, which they then stay in.
	NetNSPath string
	// IP is the pod IP; Config.NodeIP for hostNetwork pods.
	IP netip.Addr
	// HostVeth is the host side of the pod's veth pair; "" for hostNetwork.
	HostVeth string
	// ResolvConfPath is the file to bind-mount on the pod's /etc/resolv.conf.
	ResolvConfPath string
	// HostsPath is the file to bind-mount on the pod's /etc/hosts; "" for
	// hostNetwork pods, which see the node's, as in Kubernetes.
	HostsPath string
}

func (p *Pod) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPod, fmt.Sprintf(format, args...))
	}
	if p.UID == "" || len(p.UID) > 128 || strings.IndexFunc(p.UID, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		return bad("uid %q: want 1 to 128 printable characters without spaces", p.UID)
	}
	if !isDNSLabel(p.Namespace) {
		return bad("namespace %q: not a DNS label", p.Namespace)
	}
	if !isDNSSubdomain(p.Name) {
		return bad("name %q: not a DNS subdomain", p.Name)
	}
	if p.Hostname != "" && !isDNSLabel(p.Hostname) {
		return bad("hostname %q: not a DNS label", p.Hostname)
	}
	if p.Subdomain != "" && !isDNSLabel(p.Subdomain) {
		return bad("subdomain %q: not a DNS label", p.Subdomain)
	}
	return p.validateDNS()
}

// Setup gives the pod its network: for a pod with its own namespace, a
// pinned network namespace with loopback up, eth0 (a veth whose host side is
// on the bridge) with an IP from the pod CIDR and a default route via the
// bridge, and resolv.conf and hosts files; for a hostNetwork pod only the
// resolv.conf.
//
// Setup is idempotent: for a UID that has a sandbox it repairs whatever is
// missing in the kernel and returns the same sandbox and IP. A Setup that
// fails leaves nothing behind.
func (n *Network) Setup(ctx context.Context, pod Pod) (*Sandbox, error) {
	if err := pod.validate(); err != nil {
		return nil, err
	}
	if err := n.enter(); err != nil {
		return nil, err
	}
	defer n.life.RUnlock()
	id := SandboxID(pod.UID)
	defer n.lockID(id)()

	if r := n.lookup(id); r != nil {
		return n.resume(ctx, id, r, pod)
	}
	s, err := n.create(ctx, id, pod)
	if err != nil {
		if cerr := n.teardown(context.WithoutCancel(ctx), id, pod.UID); cerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", cerr))
		}
		return nil, fmt.Errorf("set up pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	n.log.Debug("sandbox created", "pod", pod.Namespace+"/"+pod.Name, "uid", pod.UID, "ip", s.IP, "netns", s.NetNSPath)
	return s, nil
}

func (n *Network) resume(ctx context.Context, id string, r *record, pod Pod) (*Sandbox, error) {
	if r.Pod.UID != pod.UID {
		return nil, fmt.Errorf("set up pod %s/%s: %w: uid %s maps to sandbox %s of uid %s",
			pod.Namespace, pod.Name, ErrNameCollision, pod.UID, id, r.Pod.UID)
	}
	if r.Pod.HostNetwork != pod.HostNetwork {
		return nil, fmt.Errorf("%w: hostNetwork of pod %s/%s changed to %v", ErrInvalidPod, pod.Namespace, pod.Name, pod.HostNetwork)
	}
	next := *r
	next.Pod = pod
	if err := n.converge(ctx, id, &next); err != nil {
		return nil, fmt.Errorf("repair sandbox of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if !reflect.DeepEqual(r.Pod, pod) {
		if err := n.saveRecord(id, &next); err != nil {
			return nil, err
		}
		n.store(id, &next)
	}
	return next.sandbox(n, id), nil
}

// create allocates and records before it touches the kernel, so that an
// agent killed at any point finds a record (or an IPAM owner) to clean.
func (n *Network) create(ctx context.Context, id string, pod Pod) (*Sandbox, error) {
	r := &record{Pod: pod}
	if !pod.HostNetwork {
		ip, err := n.ipam.Allocate(pod.UID)
		if err != nil {
			return nil, fmt.Errorf("allocate IP: %w", err)
		}
		r.IP, r.NetNS, r.HostVeth = ip, n.netnsPath(id), vethPrefix+id
	}
	if err := n.saveRecord(id, r); err != nil {
		return nil, err
	}
	if err := n.converge(ctx, id, r); err != nil {
		return nil, err
	}
	r.Complete = true
	if err := n.saveRecord(id, r); err != nil {
		return nil, err
	}
	n.store(id, r)
	return r.sandbox(n, id), nil
}

// converge makes the kernel and the files match the record. Each step is
// idempotent.
func (n *Network) converge(ctx context.Context, id string, r *record) error {
	if !r.Pod.HostNetwork {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ensureNetNS(r.NetNS); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := n.ensurePodLinks(r); err != nil {
			return err
		}
	}
	return n.writeFiles(id, r)
}

// Teardown removes the pod's sandbox: its veth, its network namespace, its
// files and record, and releases its IP. It is idempotent and works from
// the derived names when the record is missing or half-written. If the veth
// or the namespace cannot be removed, the IP and the record are kept and the
// error returned, so that a retry finishes the job and no IP is handed out
// while still in use.
func (n *Network) Teardown(ctx context.Context, uid string) error {
	if uid == "" {
		return fmt.Errorf("%w: empty uid", ErrInvalidPod)
	}
	if err := n.enter(); err != nil {
		return err
	}
	defer n.life.RUnlock()
	id := SandboxID(uid)
	defer n.lockID(id)()
	if err := n.teardown(ctx, id, uid); err != nil {
		return fmt.Errorf("tear down pod %s: %w", uid, err)
	}
	return nil
}

func (n *Network) teardown(ctx context.Context, id, uid string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := n.lookup(id)
	if r == nil {
		r, _ = n.loadRecord(id) // a corrupt record is removed with its dir
	}
	if r != nil && r.Pod.UID != uid {
		return nil // the ID is another pod's: uid has nothing here
	}
	nsPath := n.netnsPath(id)
	if r != nil && r.NetNS != "" {
		nsPath = r.NetNS
	}
	if err := errors.Join(n.deleteHostVeth(vethPrefix+id, uid), netns.Delete(nsPath)); err != nil {
		return err
	}
	if err := n.ipam.Release(uid); err != nil {
		return err
	}
	if err := os.RemoveAll(n.sandboxDir(id)); err != nil {
		return fmt.Errorf("remove sandbox state: %w", err)
	}
	n.forget(id)
	return nil
}
