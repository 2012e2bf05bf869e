package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// withServiceCIDR writes an executable next to bin that runs it with
// --service-cidr cidr appended (exec: the same pid), for
// benchenv.StartShoal, which takes no extra flags. A range of its own keeps
// the bench's VIPs (its cluster's kubernetes and kube-dns Services too,
// which `shoal proxy` also puts on lo) apart from those of any other
// cluster on this machine, such as an end-to-end test's node proxy on
// 10.96.0.1 and 10.96.0.10.
func withServiceCIDR(bin, cidr string) (string, error) {
	if _, err := netip.ParsePrefix(cidr); err != nil {
		return "", fmt.Errorf("-service-cidr: %w", err)
	}
	path := filepath.Join(filepath.Dir(bin), "shoal-up")
	script := fmt.Sprintf("#!/bin/sh\nexec %q \"$@\" --service-cidr %q\n", bin, cidr)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", err
	}
	return path, nil
}

// serviceVIPs are the ClusterIPs of every Service of the cluster: what
// `shoal proxy` may put on lo.
func serviceVIPs(ctx context.Context, cs kubernetes.Interface) ([]netip.Addr, error) {
	list, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var out []netip.Addr
	for _, s := range list.Items {
		for _, ip := range s.Spec.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// loopbackAddrs are the addresses on lo.
func loopbackAddrs() ([]netip.Addr, error) {
	out, err := exec.Command("ip", "-o", "addr", "show", "dev", "lo").Output()
	if err != nil {
		return nil, fmt.Errorf("ip addr show lo: %w", err)
	}
	var addrs []netip.Addr
	for _, f := range strings.Fields(string(out)) {
		if p, err := netip.ParsePrefix(f); err == nil {
			addrs = append(addrs, p.Addr())
		}
	}
	return addrs, nil
}

// onLoopback returns those of ips that are on lo.
func onLoopback(ips []netip.Addr) ([]netip.Addr, error) {
	addrs, err := loopbackAddrs()
	if err != nil {
		return nil, err
	}
	var on []netip.Addr
	for _, ip := range ips {
		if slices.Contains(addrs, ip) {
			on = append(on, ip)
		}
	}
	return on, nil
}

// removeVIPs takes those of ips that a proxy left on lo off it and
// returns them.
func removeVIPs(ips []netip.Addr) ([]netip.Addr, error) {
	left, err := onLoopback(ips)
	if err != nil {
		return nil, err
	}
	for _, ip := range left {
		if out, err := exec.Command("ip", "addr", "del", netip.PrefixFrom(ip, ip.BitLen()).String(), "dev", "lo").CombinedOutput(); err != nil {
			return left, fmt.Errorf("ip addr del %s dev lo: %w: %s", ip, err, out)
		}
	}
	return left, nil
}
