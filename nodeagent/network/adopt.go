package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/netns"
)

// adopt reconciles the state directory with the kernel after a restart:
//
//   - a complete record whose namespace is pinned is kept and repaired (veth,
//     address, route, files), and its IP re-reserved if IPAM lost it;
//   - a record of an interrupted Setup, one whose namespace is gone (after a
//     reboot, say), one whose IP is outside the pod CIDR or taken by another
//     pod, or one that cannot be repaired is torn down and its IP released;
//   - an IP, a shoal-<id> namespace in NetnsDir or a veth with this bridge's
//     alias that belongs to no kept record is removed.
//
// A thing that cannot be removed is logged and left for the next restart or
// Teardown: the agent must start anyway.
func (n *Network) adopt(ctx context.Context) error {
	ids, err := n.listRecordIDs()
	if err != nil {
		return err
	}
	kept := map[string]bool{}    // by sandbox ID
	keptUID := map[string]bool{} // IPAM owners to keep
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := n.loadRecord(id)
		if err != nil || r == nil {
			n.log.Warn("removing unreadable sandbox record", "sandbox", id, "err", err)
			if err := errors.Join(netns.Delete(n.netnsPath(id)), os.RemoveAll(n.sandboxDir(id))); err != nil {
				n.log.Warn("cannot remove sandbox", "sandbox", id, "err", err)
				kept[id] = true
			}
			continue
		}
		log := n.log.With("pod", r.Pod.Namespace+"/"+r.Pod.Name, "uid", r.Pod.UID, "sandbox", id)
		reason := n.staleReason(r)
		if reason == "" {
			if err := n.converge(ctx, id, r); err != nil {
				reason = "cannot repair: " + err.Error()
			}
		}
		if reason == "" {
			n.records[id] = r
			kept[id], keptUID[r.Pod.UID] = true, true
			log.Info("adopted sandbox", "ip", r.IP)
			continue
		}
		if err := n.teardown(ctx, id, r.Pod.UID); err != nil {
			log.Warn("cannot remove stale sandbox", "reason", reason, "err", err)
			kept[id], keptUID[r.Pod.UID] = true, true
			continue
		}
		log.Info("removed stale sandbox", "reason", reason)
	}

	for _, owner := range n.ipam.Owners() {
		if keptUID[owner] {
			continue
		}
		ip, _ := n.ipam.Lookup(owner)
		if err := n.ipam.Release(owner); err != nil {
			return err
		}
		n.log.Info("released IP of no sandbox", "uid", owner, "ip", ip)
	}
	n.sweepNetNS(kept)
	return n.sweepVeths(kept)
}

// staleReason says why a record cannot be adopted as it is, "" if it can.
func (n *Network) staleReason(r *record) string {
	if !r.Complete {
		return "interrupted setup"
	}
	if r.Pod.HostNetwork {
		return ""
	}
	if !n.cfg.PodCIDR.Contains(r.IP) {
		return fmt.Sprintf("IP %v is outside the pod CIDR %v", r.IP, n.cfg.PodCIDR)
	}
	if ok, err := netns.IsNamespace(r.NetNS); err != nil || !ok {
		return "network namespace is gone"
	}
	if ip, ok := n.ipam.Lookup(r.Pod.UID); !ok || ip != r.IP {
		if err := n.ipam.Reserve(r.Pod.UID, r.IP); err != nil {
			return err.Error()
		}
	}
	return ""
}

func (n *Network) sweepNetNS(kept map[string]bool) {
	entries, err := os.ReadDir(n.cfg.NetnsDir)
	if err != nil {
		n.log.Warn("cannot list network namespaces", "dir", n.cfg.NetnsDir, "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !netnsNameRE.MatchString(name) || kept[strings.TrimPrefix(name, netnsPrefix)] {
			continue
		}
		path := filepath.Join(n.cfg.NetnsDir, name)
		if err := netns.Delete(path); err != nil {
			n.log.Warn("cannot remove unrecorded network namespace", "netns", path, "err", err)
			continue
		}
		n.log.Info("removed unrecorded network namespace", "netns", path)
	}
}

func (n *Network) sweepVeths(kept map[string]bool) error {
	links, err := listRetry(n.nl.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		if l.Type() != "veth" || !vethNameRE.MatchString(a.Name) || !n.ownsAlias(a.Alias) ||
			kept[strings.TrimPrefix(a.Name, vethPrefix)] {
			continue
		}
		if err := n.nl.LinkDel(l); err != nil {
			var nf netlink.LinkNotFoundError
			if !errors.As(err, &nf) {
				n.log.Warn("cannot remove unrecorded veth", "veth", a.Name, "err", err)
			}
			continue
		}
		n.log.Info("removed unrecorded veth", "veth", a.Name)
	}
	return nil
}
